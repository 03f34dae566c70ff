"""A request list's columns: their headings, the sort each heading's link asks for (a key of
``selectors.SORT_KEYS``), and that link, which keeps the list's other filters in the URL."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict

#: (heading, sort key) in the order shown
COLUMNS = (
    ("Request", "reference"),
    ("Practice", "practice"),
    ("Point of contact", "poc"),
    ("Status", "status"),
    ("Timeline", "timeline"),
    ("Promised by", "promised"),
    ("Owner", "owner"),
)

SORT_CHOICES = [
    choice
    for heading, key in COLUMNS
    for choice in ((key, f"{heading}"), (f"-{key}", f"{heading}, reversed"))
]


@dataclass(frozen=True)
class Column:
    heading: str
    href: str
    #: the header's aria-sort: "ascending", "descending" or "none"
    sorted: str


def sortable_columns(query: QueryDict, current: str) -> list[Column]:
    """Each heading with the link that sorts by it: ascending first, reversed when it already
    is; the page number drops (a new order starts at page one)."""
    columns = []
    for heading, key in COLUMNS:
        params = query.copy()
        params.pop("page", None)
        params["sort"] = f"-{key}" if current == key else key
        state = {key: "ascending", f"-{key}": "descending"}.get(current, "none")
        columns.append(Column(heading, f"?{params.urlencode()}", state))
    return columns
