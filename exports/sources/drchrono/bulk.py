"""DrChrono's asynchronous bulk lists (``patients_list``, ``appointments_list``, ...).

A page is asked for with a POST (``page``, ``page_size`` up to 1,000, the list's filters),
which answers a uuid; the page is then polled (GET with the uuid) until its status is
"Complete", and comes with the whole list's ``pagination`` (count, pages). The next page is
another POST. Results stay cached an hour on DrChrono's side. Each page costs a POST and at
least one poll: the polls wait a little first, so a page that is quick to build costs one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..records import SourceAsksToWait, SourceError
from .budget import Clock
from .client import DrChronoClient, endpoint_name

BULK_PAGE_SIZE = 1000
#: seconds before each poll: DrChrono builds a page of a thousand in a few seconds
POLL_INTERVAL = 2.0
#: polls of one page before the work pauses (and asks again later)
MAX_POLLS = 30


@dataclass(frozen=True, slots=True)
class BulkPage:
    """One page of a bulk list: its records, its number and the list's size."""

    items: list[dict[str, Any]]
    number: int
    pages: int
    count: int | None

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def iter_bulk_pages(
    client: DrChronoClient,
    clock: Clock,
    path: str,
    params: Mapping[str, Any],
    *,
    start_page: int = 1,
    page_size: int = BULK_PAGE_SIZE,
) -> Iterator[BulkPage]:
    """Every page of a bulk list from ``start_page`` on."""
    number: int | None = start_page
    while number is not None:
        page = _page(client, clock, path, {**params, "page": number, "page_size": page_size})
        yield page
        number = page.next_number


def _page(client: DrChronoClient, clock: Clock, path: str, query: Mapping[str, Any]) -> BulkPage:
    endpoint = endpoint_name(client.settings.base_url + path)
    created = client.post_json(path, query)
    job = created.get("uuid") if isinstance(created, dict) else None
    if not isinstance(job, str) or not job:
        raise SourceError(f"DrChrono {endpoint} did not answer a uuid for its bulk list")
    for _ in range(MAX_POLLS):
        clock.sleep(POLL_INTERVAL)
        body = client.get_json(path, {"uuid": job})
        if isinstance(body, dict) and body.get("status") == "Complete":
            return _parsed(body, endpoint, int(query["page"]))
        if not isinstance(body, dict) or body.get("status") != "In progress":
            raise SourceError(f"DrChrono {endpoint} answered a bulk poll of the wrong shape")
    raise SourceAsksToWait(
        f"DrChrono {endpoint} is still building a bulk page; retry later",
        retry_after=POLL_INTERVAL * MAX_POLLS,
    )


def _parsed(body: dict[str, Any], endpoint: str, number: int) -> BulkPage:
    items = body.get("results")
    pagination = body.get("pagination")
    if not isinstance(items, list) or not isinstance(pagination, dict):
        raise SourceError(f"DrChrono {endpoint} returned a bulk page without results")
    pages, count = pagination.get("pages"), pagination.get("count")
    if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
        raise SourceError(f"DrChrono {endpoint} returned a bulk page without its page count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        count = None
    return BulkPage(items=items, number=number, pages=pages, count=count)
