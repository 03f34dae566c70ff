"""The FHIR Bulk Data Access ($export) client: kick-off, status polling, downloads, delete.

Every request carries the SMART Backend Services bearer token (output files only when the
manifest says ``requiresAccessToken``); a 401 gets a new token and one more try, so a token
that expires in the middle of a long download costs nothing but a resumed range. Waiting is
what the server says (``Retry-After`` on 202 and 429); a wait longer than
``max_inline_wait``, or waiting past ``patience`` in one call, raises ``SourceAsksToWait``
instead of sleeping, so the caller can turn it into a pause and resume the same job later.
Messages never carry URLs or response bodies (either may name a patient).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from ..drchrono.budget import Clock
from ..records import SourceAsksToWait, SourceError, TransientSourceError
from .auth import BackendServicesAuth
from .state import OutputFile

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
#: when the server says to come back without saying when
DEFAULT_POLL_SECONDS = 10.0
_RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class ExportJobGone(TransientSourceError):
    """The export job, or one of its files, is no longer offered (expired or deleted):
    a new export must be started."""


class FileGone(SourceError):
    """The server has no file at the URL (any more)."""


class ExportJobFailed(TransientSourceError):
    """The server reports that the export itself failed: a new one must be started."""


@dataclass(frozen=True, slots=True)
class BulkSettings:
    base_url: str
    max_attempts: int = 4
    backoff_base: float = 1.0
    max_inline_wait: float = 120.0  # seconds: a longer wait is handed back to the caller
    patience: float = 3600.0  # seconds of waiting in one call before it is handed back
    default_poll: float = DEFAULT_POLL_SECONDS  # when the server says to wait but not how long


@dataclass(frozen=True, slots=True)
class Manifest:
    transaction_time: str
    requires_access_token: bool
    outputs: tuple[OutputFile, ...]


class BulkDataClient:
    def __init__(
        self,
        http: httpx.Client,
        auth: BackendServicesAuth,
        settings: BulkSettings,
        *,
        clock: Clock,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self._http = http
        self._auth = auth
        self._settings = settings
        self._clock = clock
        self._progress = progress
        self._waited = 0.0

    @property
    def base_url(self) -> str:
        return self._settings.base_url.rstrip("/") + "/"

    @property
    def token_url(self) -> str:
        """The token endpoint, discovered from the server's SMART configuration."""
        return self._auth.token_url

    def absolute(self, url: str) -> str:
        return urljoin(self.base_url, url)

    # -- The export --------------------------------------------------------------------------

    def kick_off(self, *, group_id: str, types: tuple[str, ...], since: str) -> str:
        """Start an export (of the group, or system-wide without one); its status URL."""
        self._waited = 0.0
        path = f"Group/{group_id}/$export" if group_id else "$export"
        params = {"_type": ",".join(types)}
        if since:
            params["_since"] = since
        headers = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
        with self._send("GET", self.absolute(path), params=params, headers=headers) as response:
            if response.status_code != 202:
                raise SourceError(
                    f"the EHR refused the export request (HTTP {response.status_code}"
                    f"{_issue_codes(response)})"
                )
            location = response.headers.get("Content-Location", "")
        if not location:
            raise SourceError("the EHR accepted the export but gave no status URL")
        logger.info("Bulk Data export started")
        return self.absolute(location)

    def manifest(self, status_url: str) -> Manifest:
        """Poll the export until its manifest is ready (or the wait is handed back)."""
        self._waited = 0.0
        while True:
            with self._send("GET", status_url, headers={"Accept": "application/json"}) as response:
                status = response.status_code
                if status == 200:
                    return _manifest(response)
                if status == 202:
                    if self._progress is not None:
                        self._progress(_percent(response.headers.get("X-Progress", "")))
                    wait = _retry_after(response, self._clock.time())
                elif status in (404, 410):
                    raise ExportJobGone("the EHR no longer offers the export job")
                else:
                    raise ExportJobFailed(
                        f"the EHR reports that the export failed (HTTP {status}"
                        f"{_issue_codes(response)})"
                    )
            self._wait(self._settings.default_poll if wait is None else wait, "export in progress")

    def download(self, output: OutputFile, path: Path, *, authorize: bool) -> int:
        """Stream one output file to ``path``, resuming from what ``path`` already holds
        (HTTP Range). Returns the file's size."""
        url = self.absolute(output.url)
        self._waited = 0.0
        for attempt in range(1, self._settings.max_attempts + 1):
            offset = path.stat().st_size if path.exists() else 0
            try:
                with self.stream(url, offset=offset, authorize=authorize, accept=FHIR_NDJSON) as r:
                    return _write_body(r, path, offset)
            except FileGone:
                raise ExportJobGone("the EHR no longer offers a file of the export") from None
            except httpx.TransportError as exc:  # a body cut short included: httpx checks it
                logger.warning(
                    "%s output download cut short (%s), attempt %d",
                    output.type,
                    type(exc).__name__,
                    attempt,
                )
                if attempt == self._settings.max_attempts:
                    raise TransientSourceError(
                        f"a {output.type} output file download was cut short {attempt} times"
                    ) from None
                self.pause_before_retry(attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def delete(self, status_url: str) -> None:
        """Tell the server the job's files may go. A job already gone is fine."""
        with self._send("DELETE", status_url, headers={"Accept": FHIR_JSON}) as response:
            if response.status_code >= 400 and response.status_code not in (404, 410):
                logger.warning("Bulk Data job delete answered HTTP %d", response.status_code)

    # -- Requests ----------------------------------------------------------------------------

    @contextmanager
    def stream(
        self, url: str, *, offset: int = 0, authorize: bool = True, accept: str = "*/*"
    ) -> Iterator[httpx.Response]:
        """An open, successful response for a file, body not yet read; ``offset`` asks for
        the rest from that byte (the caller checks for 206). Also the file-fetching interface
        of ``drchrono.files.RemoteFile``, which streams attachments."""
        # identity: Content-Length then counts the bytes we receive, so a cut is visible.
        headers = {"Accept": accept, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with self._send("GET", self.absolute(url), headers=headers, authorize=authorize) as r:
            if r.status_code in (404, 410):
                raise FileGone(f"the FHIR server has no such file (HTTP {r.status_code})")
            if r.status_code not in (200, 206):
                raise SourceError(f"a file download answered HTTP {r.status_code}")
            yield r

    def pause_before_retry(self, attempt: int) -> None:
        self._clock.sleep(self._settings.backoff_base * 2 ** (attempt - 1))

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A FHIR read or search, as JSON."""
        with self._send(
            "GET", self.absolute(path), params=params, headers={"Accept": FHIR_JSON}
        ) as response:
            if response.status_code != 200:
                raise SourceError(f"the FHIR server answered HTTP {response.status_code}")
            response.read()
            try:
                body = response.json()
            except ValueError:
                raise SourceError("the FHIR server's answer is not JSON") from None
        if not isinstance(body, dict):
            raise SourceError("the FHIR server's answer is not a FHIR resource")
        return body

    @contextmanager
    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        authorize: bool = True,
    ) -> Iterator[httpx.Response]:
        """One request, retried through 401 (new token), 429 (the server's wait), 5xx and
        transport errors (backoff). Yields the first other answer, body unread."""
        renewed = False
        attempt = 0
        while True:
            token = self._auth.access_token() if authorize else ""
            sent = dict(headers)
            if token:
                sent["Authorization"] = f"Bearer {token}"
            request = self._http.build_request(method, url, params=params, headers=sent)
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                attempt += 1
                if attempt >= self._settings.max_attempts:
                    raise TransientSourceError(
                        f"the FHIR server could not be reached ({type(exc).__name__})"
                    ) from None
                self.pause_before_retry(attempt)
                continue
            retry: float | None = None
            try:
                if response.status_code == 401 and token and not renewed:
                    self._auth.refused(token)
                    renewed = True
                    continue
                if response.status_code == 429:
                    retry = (
                        _retry_after(response, self._clock.time()) or self._settings.default_poll
                    )
                elif response.status_code in _RETRIED_STATUSES:
                    attempt += 1
                    if attempt >= self._settings.max_attempts:
                        raise TransientSourceError(
                            f"the FHIR server answered HTTP {response.status_code}"
                        )
                else:
                    yield response
                    return
            finally:
                response.close()
            if retry is not None:
                self._wait(retry, "throttled (HTTP 429)")
            else:
                self.pause_before_retry(attempt)

    def _wait(self, seconds: float, why: str) -> None:
        """Sleep as the server asks, or hand a long wait back to the caller."""
        seconds = max(seconds, 0.0)
        if seconds > self._settings.max_inline_wait or self._waited + seconds > (
            self._settings.patience
        ):
            raise SourceAsksToWait(
                f"the FHIR server asks to wait {seconds:.0f} s ({why})", retry_after=seconds
            )
        self._waited += seconds
        self._clock.sleep(seconds)


def _write_body(response: httpx.Response, path: Path, offset: int) -> int:
    """Append a 206 answer to what ``path`` holds, or replace it with a 200 answer."""
    resumed = offset > 0 and response.status_code == 206
    with path.open("ab" if resumed else "wb") as file:
        for chunk in response.iter_bytes():  # as received: a cut keeps what arrived
            file.write(chunk)
    return path.stat().st_size


def _manifest(response: httpx.Response) -> Manifest:
    response.read()
    try:
        body = response.json()
        outputs = [
            OutputFile(type=str(item["type"]), url=str(item["url"]), count=item.get("count"))
            for item in body.get("output", [])
        ] + [
            OutputFile(type=str(item["type"]), url=str(item["url"]), error=True)
            for item in body.get("error", [])
        ]
        return Manifest(
            transaction_time=str(body["transactionTime"]),
            requires_access_token=bool(body.get("requiresAccessToken", True)),
            outputs=tuple(outputs),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SourceError("the export manifest is not a Bulk Data manifest") from None


def _percent(progress: str) -> str:
    """The percentage X-Progress gives, if it gives one: the header is the server's free
    text, so nothing else of it is passed on (or logged)."""
    found = re.search(r"\d{1,3}(\.\d+)?\s*%", progress)
    return found.group(0) if found else "in progress"


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """Retry-After in seconds (given as seconds or as an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def _issue_codes(response: httpx.Response) -> str:
    """An OperationOutcome's issue codes (never its diagnostics text) for a message."""
    try:
        response.read()
        issues = response.json().get("issue", [])
        codes = sorted({str(issue.get("code")) for issue in issues if issue.get("code")})
    except (ValueError, AttributeError, httpx.StreamError):
        return ""
    codes = [code for code in codes if code.isascii() and code.replace("-", "").isalpha()]
    return f": {', '.join(codes)}" if codes else ""
