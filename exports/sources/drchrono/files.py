"""Files DrChrono holds (note PDFs, documents, photos, card images, attachments, lab reports),
streamed on demand with size, type and completeness checks.

A download cut short resumes from the last byte delivered (HTTP Range, or by skipping what
was already delivered when the server ignores ranges), so a consumer that already wrote the
first part never sees a byte twice. What cannot be had raises ``RecordUnavailable``, naming
the record, never the URL (a DrChrono file URL can carry a patient's file name).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from ..records import RecordUnavailable, SourceError
from .budget import RequestBudgetExhausted
from .client import DrChronoClient

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
    "tif": (b"II*\x00", b"MM\x00*"),
}
_MAGIC_PREFIX_LENGTH = max(len(m) for magics in _MAGIC.values() for m in magics)

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "tif": "image/tiff",
    "xml": "application/xml",
    "txt": "text/plain",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "html": "text/html",
    "zip": "application/zip",
}
_EXTENSION_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tiff": "tif", "htm": "html"}


def extension_of(url: str, default: str) -> str:
    """The file type a DrChrono file URL names (its path's suffix), else ``default``."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")
    suffix = _EXTENSION_ALIASES.get(suffix, suffix)
    if suffix in MEDIA_TYPES:
        return suffix
    return default


def file_key(url: str) -> str:
    """What stays the same of a file's URL each time the API hands it out: a signed URL's
    expiry and signature change, its host and path do not."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


class FileCache:
    """Files kept on local disk (in the source's private spool folder) so that a file several
    records point to, or one a resumed run needs again, is downloaded once. Named by a hash of
    their key, never by the URL (which can carry a patient's file name). Written to a
    temporary name and renamed when complete, so a reader never sees half a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / hashlib.sha256(key.encode()).hexdigest()

    def read(self, key: str) -> Iterator[bytes] | None:
        """The cached file's chunks, or None when it is not cached."""
        try:
            handle = self.path(key).open("rb")
        except FileNotFoundError:
            return None
        return _chunks_of(handle)

    def keep(self, key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Pass ``chunks`` through, keeping them; cached only if they all arrive."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    yield chunk
            os.replace(temp_name, self.path(key))
        finally:
            Path(temp_name).unlink(missing_ok=True)


def _chunks_of(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


class _CutShort(Exception):
    """The body ended before the promised length."""


class _FileProblem(RecordUnavailable):
    """Raised by this module's own checks; its message already names the record."""


class RemoteFile:
    """A ``Blob`` for one file URL on DrChrono. Nothing is fetched before ``chunks()``."""

    def __init__(
        self,
        client: DrChronoClient,
        url: str,
        *,
        label: str,
        extension: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_attempts: int = 3,
        cache: FileCache | None = None,
    ) -> None:
        self._client = client
        self._cache = cache
        self._url = url
        self.label = label  # "documents 123": what the errors name
        self.extension = extension
        self.media_type = MEDIA_TYPES.get(extension, "application/octet-stream")
        self.size: int | None = None
        self._max_bytes = max_bytes
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"RemoteFile({self.label}, {self.extension})"

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes; from the cache when it has them, kept there when it is given."""
        if self._cache is None:
            yield from self._download()
            return
        key = file_key(self._url)
        cached = self._cache.read(key)
        if cached is None:
            yield from self._cache.keep(key, self._download())
            return
        self.size = self._cache.path(key).stat().st_size
        yield from cached

    def _download(self) -> Iterator[bytes]:
        delivered = 0
        checked = self.extension not in _MAGIC
        head = b""
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self._client.stream(self._url, offset=delivered) as response:
                    self._check_media_type(response)
                    total, skip = self._expected_total(response, delivered)
                    received = delivered
                    for chunk in response.iter_bytes(CHUNK_SIZE):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        received += len(chunk)
                        if received > self._max_bytes:
                            raise self._unavailable("is larger than the size limit")
                        if not checked:
                            head += chunk
                            if len(head) < _MAGIC_PREFIX_LENGTH:
                                continue
                            self._check_magic(head)
                            chunk, head, checked = head, b"", True
                        if chunk:
                            delivered += len(chunk)
                            yield chunk
                    if total is not None and received != total:
                        raise _CutShort
                    if not checked:
                        self._check_magic(head)
                        delivered += len(head)
                        yield head
                    self.size = delivered
                    return
            except (RequestBudgetExhausted, _FileProblem):
                raise
            except SourceError as exc:
                raise self._unavailable(f"could not be downloaded: {exc}") from None
            except (httpx.TransportError, _CutShort) as exc:
                # head is refetched with the rest: it was never yielded.
                head = b""
                logger.warning(
                    "%s file download cut short (%s), attempt %d",
                    self.label,
                    type(exc).__name__,
                    attempt,
                )
                if attempt == self._max_attempts:
                    raise self._unavailable(f"download was cut short {attempt} times") from None
                self._client.pause_before_retry(attempt)

    def _expected_total(self, response: httpx.Response, delivered: int) -> tuple[int | None, int]:
        """(the file's full size if announced, bytes of this body already delivered)."""
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        resumed = delivered > 0 and response.status_code == 206
        skip = 0 if resumed or not delivered else delivered
        total = None if length is None else length + (delivered if resumed else 0)
        if total is not None and total > self._max_bytes:
            raise self._unavailable("is larger than the size limit")
        return total, skip

    def _check_media_type(self, response: httpx.Response) -> None:
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        # An HTML page where a file should be is a login or error page, not the file.
        if media_type == "text/html" and self.extension != "html":
            raise self._unavailable("was answered with a web page instead of the file")

    def _check_magic(self, head: bytes) -> None:
        if not head.startswith(_MAGIC[self.extension]):
            raise self._unavailable(f"is not a {self.extension} file")

    def _unavailable(self, problem: str) -> RecordUnavailable:
        return _FileProblem(f"{self.label} file {problem}")
