"""A small DrChrono REST API v4 client: OAuth2 refresh, retries with backoff, paging, budget.

Nothing here logs or raises with a token, a URL query or a response body: errors name the
endpoint (the path with ids folded to ``{id}``) and the HTTP status, which carry no PHI.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from ..records import RecordUnavailable, SourceError, TransientSourceError
from .budget import Clock, RequestBudget

logger = logging.getLogger(__name__)

#: DrChrono's largest page for ordinary lists; ``verbose=true`` lowers it to 25.
PAGE_SIZE = 250
VERBOSE_PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    """An access token, the refresh token that renews it, and when the access token expires.

    The portal stores these encrypted; ``repr`` hides them so they never reach a log.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where DrChrono is and how patient to be with it."""

    base_url: str  # e.g. "https://app.drchrono.com"
    token_url: str  # e.g. "https://drchrono.com/o/token/"
    client_id: str
    client_secret: str = field(repr=False)
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
    )
    max_attempts: int = 5
    backoff_base: float = 1.0  # first retry waits about this long, then doubles
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0  # a longer 429 wait becomes a TransientSourceError
    refresh_margin: float = 120.0  # renew the access token this long before it expires


class TokenStore(Protocol):
    """Where an OAuth grant's tokens are kept, for every client that uses the grant.

    DrChrono rotates the refresh token at each renewal, so a refresh token works once: when
    clients share a grant, one renews at a time and the others take what it got.
    """

    def renew(
        self, held: OAuthTokens, request_new: Callable[[OAuthTokens], OAuthTokens]
    ) -> OAuthTokens:
        """Tokens to replace ``held``: the stored ones if someone else has already renewed
        ``held``, else ``request_new(stored)``'s, stored before they are returned."""
        ...


def renewed_elsewhere(stored: OAuthTokens, held: OAuthTokens) -> bool:
    """Whether the store's tokens are not the ones a client held: another client renewed
    them meanwhile (every renewal issues a new access token)."""
    return stored.access_token != held.access_token


_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def endpoint_name(url: str) -> str:
    """What a URL is, safe to log: an API path with its ids folded, or "file download".

    File URLs are never shown: their paths can carry a patient's file name, their queries
    a signature.
    """
    path = urlsplit(url).path
    if not path.startswith("/api/"):
        return "file download"
    return _ID_SEGMENT.sub("/{id}", path)


class _FoldRequestUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a DrChrono file URL can carry a patient's
    file name and a signature. The line stays, with the URL folded to ``endpoint_name``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                endpoint_name(str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_FoldRequestUrls())


class DrChronoClient:
    """HTTP access to one practice's DrChrono account, on behalf of one OAuth grant."""

    def __init__(
        self,
        settings: ClientSettings,
        tokens: OAuthTokens,
        *,
        token_store: TokenStore,
        budget: RequestBudget,
        clock: Clock,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._tokens = tokens
        self._token_store = token_store
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._api_origin = _origin(settings.base_url)
        self._http = httpx.Client(
            timeout=settings.timeout,
            follow_redirects=True,  # some endpoints redirect; httpx drops auth off-origin
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    # -- JSON --------------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document, retrying throttles, server errors, timeouts and bad JSON."""
        url = self._absolute(path_or_url)
        endpoint = endpoint_name(url)
        for attempt in range(1, self.settings.max_attempts + 1):
            with self._send(url, params) as response:
                response.read()
            try:
                return response.json()
            except ValueError:
                logger.warning(
                    "DrChrono %s returned malformed JSON (attempt %d)", endpoint, attempt
                )
                if attempt == self.settings.max_attempts:
                    break
                self.pause_before_retry(attempt)
        raise SourceError(f"DrChrono {endpoint} returned malformed JSON")

    def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, start_url: str | None = None
    ) -> Iterator[Page]:
        """Every page of a list, following ``next`` until it is null.

        ``start_url`` resumes at a ``next`` URL saved from an earlier, interrupted walk.
        """
        url: str | None = start_url
        query: Mapping[str, Any] | None = None
        if url is None:
            url = self._absolute(path)
            query = {"page_size": PAGE_SIZE, **(params or {})}
        while url is not None:
            body = self.get_json(url, query)
            page = Page.parse(body, endpoint_name(url))
            if page.next_url is not None:
                page = Page(page.items, self._absolute(page.next_url), page.count)
            yield page
            url, query = page.next_url, None  # next carries the whole query already

    # -- Files -------------------------------------------------------------------------------

    @contextmanager
    def stream(self, url: str, *, offset: int = 0) -> Iterator[httpx.Response]:
        """An open, successful response for a file, body not yet read.

        ``offset`` asks for the rest of a file from that byte (HTTP Range); the caller checks
        whether the server honoured it (206) or sent the whole file again (200).
        """
        # identity: Content-Length then counts the bytes we receive, so a cut is visible.
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with self._send(self._absolute(url), None, headers=headers) as response:
            yield response

    def pause_before_retry(self, attempt: int) -> None:
        """Sleep the backoff for retry number ``attempt`` (1 = the first retry)."""
        self._clock.sleep(self._backoff(attempt))

    # -- Internals ---------------------------------------------------------------------------

    @contextmanager
    def _send(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """Send a GET until it succeeds or the attempts run out; yield the open response."""
        endpoint = endpoint_name(url)
        on_api = _origin(url) == self._api_origin
        refreshed_after_401 = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = dict(headers or {})
            if on_api:
                self._budget.spend()
                request_headers["Authorization"] = f"Bearer {self._current_access_token()}"
            request = self._http.build_request("GET", url, params=params, headers=request_headers)
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                # Timeouts, refused or dropped connections: transient by nature.
                failure = f"DrChrono {endpoint} could not be reached ({type(exc).__name__})"
                self._wait_or_give_up(attempt, failure, self._backoff(attempt))
                continue
            status = response.status_code
            if status < 400:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            if status == 401 and on_api and not refreshed_after_401:
                refreshed_after_401 = True
                attempt -= 1  # a stale token is not the server failing
                self._renew_tokens()
                continue
            if status == 429:
                wait = _retry_after(response) or self._backoff(attempt)
                if wait > self.settings.max_retry_after:
                    raise TransientSourceError(
                        f"DrChrono throttled {endpoint} for {wait:.0f} s; retry later"
                    )
                self._wait_or_give_up(attempt, f"DrChrono kept throttling {endpoint}", wait)
                continue
            if status >= 500:
                failure = f"DrChrono {endpoint} failed with HTTP {status}"
                self._wait_or_give_up(attempt, failure, self._backoff(attempt))
                continue
            if status in (404, 410):
                raise RecordUnavailable(f"DrChrono {endpoint} answered HTTP {status}")
            raise SourceError(f"DrChrono {endpoint} refused the request (HTTP {status})")

    def _wait_or_give_up(self, attempt: int, failure: str, wait: float) -> None:
        if attempt >= self.settings.max_attempts:
            raise TransientSourceError(f"{failure} after {attempt} attempts")
        logger.warning("%s; retrying in %.1f s (attempt %d)", failure, wait, attempt)
        self._clock.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: spreads out workers retrying together."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _current_access_token(self) -> str:
        expires_in = self._tokens.expires_at.timestamp() - self._clock.time()
        if expires_in <= self.settings.refresh_margin:
            self._renew_tokens()
        return self._tokens.access_token

    def _renew_tokens(self) -> None:
        self._tokens = self._token_store.renew(self._tokens, self._request_new_tokens)

    def _request_new_tokens(self, tokens: OAuthTokens) -> OAuthTokens:
        """Spend ``tokens``' refresh token at DrChrono for a new pair."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                response = self._http.post(self.settings.token_url, data=form)
            except httpx.TransportError as exc:
                failure = f"DrChrono token endpoint could not be reached ({type(exc).__name__})"
                self._wait_or_give_up(attempt, failure, self._backoff(attempt))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failure = f"DrChrono token endpoint failed with HTTP {response.status_code}"
                wait = _retry_after(response) or self._backoff(attempt)
                self._wait_or_give_up(attempt, failure, wait)
                continue
            break
        if response.status_code != 200:
            raise SourceError(
                f"DrChrono refused to renew the access token (HTTP {response.status_code}); "
                "the practice must reconnect its DrChrono account"
            )
        renewed = _tokens_from(response, tokens, self._clock.time())
        logger.info("DrChrono access token renewed")
        return renewed

    def _absolute(self, path_or_url: str) -> str:
        return urljoin(self.settings.base_url.rstrip("/") + "/", path_or_url)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a DrChrono list, and the whole list's length when the API gives it."""

    items: list[dict[str, Any]]
    next_url: str | None
    count: int | None = None

    @classmethod
    def parse(cls, body: Any, endpoint: str) -> Page:
        """Read ``{"results"|"data": [...], "next": url|null, "count": n}``; a wrong shape is
        an error.

        The OpenAPI document says ``data``; DrChrono's example app reads ``results``. The
        OpenAPI document shows no ``count``; paginators that send one send the length of the
        whole list, which the source checks what it read against.
        """
        if not isinstance(body, dict):
            raise SourceError(f"DrChrono {endpoint} returned a {type(body).__name__}, not a page")
        items = body.get("results", body.get("data"))
        if not isinstance(items, list):
            raise SourceError(f"DrChrono {endpoint} returned a page without results")
        next_url = body.get("next")
        if next_url is not None and not isinstance(next_url, str):
            raise SourceError(f"DrChrono {endpoint} returned a page with a malformed next link")
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            count = None
        return cls(items=items, next_url=next_url or None, count=count)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, when the server gave a number of them."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _tokens_from(response: httpx.Response, previous: OAuthTokens, now: float) -> OAuthTokens:
    try:
        body = response.json()
        access_token = body["access_token"]
        expires_in = float(body["expires_in"])
    except (ValueError, KeyError, TypeError):
        raise SourceError("DrChrono token endpoint returned a malformed answer") from None
    if not isinstance(access_token, str) or not access_token:
        raise SourceError("DrChrono token endpoint returned a malformed answer")
    refresh_token = body.get("refresh_token") or previous.refresh_token
    return OAuthTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=datetime.fromtimestamp(now + expires_in, tz=UTC),
    )
