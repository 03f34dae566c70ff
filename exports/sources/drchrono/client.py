"""A small DrChrono REST API v4 client: OAuth2 refresh, retries with backoff, paging, budget.

What DrChrono counts against an application's hourly allowance is a call to its REST API (a
path under ``/api/`` on the API's origin); a file downloaded from a signed URL the API handed
out (file storage, with its own expiry and signature) is not one. The client counts the two
apart (``Usage``): only API calls spend from the budget, and file downloads have a throttle
of their own.

Retries are one layer: transient trouble (a timeout, a 5xx, a short throttle, malformed JSON)
is retried here a few times with short jittered waits (tenacity); anything longer (a spent
allowance, a long ``Retry-After``) raises ``SourceAsksToWait`` so the stage pauses instead of
a worker sleeping. Retries run out as ``TransientSourceError``, which the task layer retries
later.

Nothing here logs or raises with a token, a URL query or a response body: errors name the
endpoint (the path with ids folded to ``{id}``) and the HTTP status, which carry no PHI.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ..records import RecordUnavailable, SourceAsksToWait, SourceError, TransientSourceError
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
    backoff_cap: float = 30.0
    max_retry_after: float = 30.0  # a longer 429 wait becomes SourceAsksToWait
    #: renew the access token this long before it expires, or a quarter of its lifetime when
    #: that is shorter: a 30-second token is renewed every 22 s or so, not before every call
    refresh_margin: float = 120.0
    #: signed-URL file downloads started per second, at most (0: no throttle)
    file_downloads_per_second: float = 0.0


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


@dataclass
class Usage:
    """What a client spent: API calls by endpoint (these count against the allowance) and
    file downloads from signed URLs (these do not)."""

    api_calls: Counter[str] = field(default_factory=Counter)
    file_downloads: int = 0

    @property
    def api_total(self) -> int:
        return sum(self.api_calls.values())


def is_api_call(url: str, api_origin: tuple[str, str]) -> bool:
    """Whether DrChrono counts a request to ``url`` against the hourly allowance: a REST API
    path on the API's own origin. A signed file URL is served by file storage."""
    return _origin(url) == api_origin and urlsplit(url).path.startswith("/api/")


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


class SourceRefused(SourceError):
    """DrChrono refused a request for good (HTTP 4xx other than 401, 404, 410, 429): most
    often a scope the application lacks. ``status`` says which."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    """One attempt failed in a way worth trying again shortly; ``wait`` when the server said."""

    def __init__(self, failure: str, wait: float | None = None) -> None:
        super().__init__(failure)
        self.failure = failure
        self.wait = wait


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
        usage: Usage | None = None,
    ) -> None:
        self.settings = settings
        self.usage = usage if usage is not None else Usage()
        self._token_store = token_store
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._api_origin = _origin(settings.base_url)
        self._tokens = tokens
        #: tokens of unknown lifetime are renewed the configured margin before they expire
        self._refresh_margin = settings.refresh_margin
        self._file_lock = threading.Lock()
        self._next_file_at = 0.0
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
        return self._json("GET", path_or_url, params)

    def post_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """POST with a query and no body (DrChrono's bulk list requests), for its JSON."""
        return self._json("POST", path_or_url, params)

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        start_url: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Page]:
        """Every page of a list, following ``next`` until it is null.

        ``start_url`` resumes at a ``next`` URL saved from an earlier, interrupted walk.
        """
        url: str | None = start_url
        query: Mapping[str, Any] | None = None
        if url is None:
            url = self._absolute(path)
            query = {"page_size": page_size, **(params or {})}
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
        response = self._send("GET", self._absolute(url), None, headers=headers)
        try:
            yield response
        finally:
            response.close()

    def pause_before_retry(self, attempt: int) -> None:
        """Sleep the backoff for retry number ``attempt`` (1 = the first retry)."""
        self._clock.sleep(self._backoff(attempt))

    # -- Internals ---------------------------------------------------------------------------

    def _json(self, method: str, path_or_url: str, params: Mapping[str, Any] | None) -> Any:
        url = self._absolute(path_or_url)
        endpoint = endpoint_name(url)

        def attempt() -> Any:
            response = self._send_once(method, url, params, {})
            try:
                response.read()
            finally:
                response.close()
            try:
                return response.json()
            except ValueError:
                raise _Retryable(f"DrChrono {endpoint} returned malformed JSON") from None

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        """``attempt()`` until it succeeds or the attempts run out, short waits between."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait_before,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._clock.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retryable as exc:
            attempts = self.settings.max_attempts
            raise TransientSourceError(f"{exc.failure} after {attempts} attempts") from None

    def _wait_before(self, state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome else None
        if isinstance(failed, _Retryable) and failed.wait is not None:
            return failed.wait
        return self._backoff(state.attempt_number)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send until it succeeds or the attempts run out; the open (streamed) response."""
        return self._retrying(lambda: self._send_once(method, url, params, headers or {}))

    def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        endpoint = endpoint_name(url)
        api_call = is_api_call(url, self._api_origin)
        for renewed_after_401 in (False, True):
            request_headers = dict(headers)
            if api_call:
                self._budget.spend()
                self.usage.api_calls[f"{method} {endpoint}"] += 1
                request_headers["Authorization"] = f"Bearer {self._current_access_token()}"
            else:
                self._throttle_file_download()
                self.usage.file_downloads += 1
            request = self._http.build_request(method, url, params=params, headers=request_headers)
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                # Timeouts, refused or dropped connections: transient by nature.
                kind = type(exc).__name__
                raise _Retryable(f"DrChrono {endpoint} could not be reached ({kind})") from None
            status = response.status_code
            if status < 400:
                return response
            response.close()
            if status == 401 and api_call and not renewed_after_401:
                self._renew_tokens()  # a stale token is not the server failing
                continue
            raise self._failure(endpoint, response)
        raise SourceError(f"DrChrono {endpoint} refused the renewed access token (HTTP 401)")

    def _failure(self, endpoint: str, response: httpx.Response) -> Exception:
        status = response.status_code
        if status == 429:
            wait = _retry_after(response)
            if wait is not None and wait > self.settings.max_retry_after:
                return SourceAsksToWait(
                    f"DrChrono throttled {endpoint} for {wait:.0f} s; retry later",
                    retry_after=wait,
                )
            return _Retryable(f"DrChrono kept throttling {endpoint}", wait)
        if status >= 500:
            return _Retryable(f"DrChrono {endpoint} failed with HTTP {status}")
        if status in (404, 410):
            return RecordUnavailable(f"DrChrono {endpoint} answered HTTP {status}")
        return SourceRefused(
            f"DrChrono {endpoint} refused the request (HTTP {status})", status=status
        )

    def _throttle_file_download(self) -> None:
        """At most ``file_downloads_per_second`` downloads start each second, per client."""
        rate = self.settings.file_downloads_per_second
        if rate <= 0:
            return
        with self._file_lock:
            now = self._clock.time()
            start = max(now, self._next_file_at)
            self._next_file_at = start + 1 / rate
        if start > now:
            self._clock.sleep(start - now)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: spreads out workers retrying together."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _take_renewed(self, tokens: OAuthTokens) -> None:
        """Hold just-renewed ``tokens``: they are renewed again a margin before they expire,
        a quarter of their lifetime when that is shorter than the configured margin (else a
        30-second token would be renewed before every call)."""
        self._tokens = tokens
        lifetime = tokens.expires_at.timestamp() - self._clock.time()
        self._refresh_margin = min(self.settings.refresh_margin, max(lifetime, 0) / 4)

    def _current_access_token(self) -> str:
        expires_in = self._tokens.expires_at.timestamp() - self._clock.time()
        if expires_in <= self._refresh_margin:
            self._renew_tokens()
        return self._tokens.access_token

    def _renew_tokens(self) -> None:
        self._take_renewed(self._token_store.renew(self._tokens, self._request_new_tokens))

    def _request_new_tokens(self, tokens: OAuthTokens) -> OAuthTokens:
        """Spend ``tokens``' refresh token at DrChrono for a new pair."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }

        def attempt() -> httpx.Response:
            try:
                response = self._http.post(self.settings.token_url, data=form)
            except httpx.TransportError as exc:
                kind = type(exc).__name__
                raise _Retryable(f"DrChrono token endpoint could not be reached ({kind})") from None
            if response.status_code == 429 or response.status_code >= 500:
                failure = f"DrChrono token endpoint failed with HTTP {response.status_code}"
                raise _Retryable(failure, _retry_after(response))
            return response

        response = self._retrying(attempt)
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


def _log_retry(state: RetryCallState) -> None:
    failed = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("%s; retrying in %.1f s (attempt %d)", failed, wait, state.attempt_number)


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
