"""FHIR Attachments as ``Blob``\\ s: inline base64 ``data``, or a ``url`` (usually a Binary on
the FHIR server) streamed with the bearer token, resumed where it broke off.

Remote files reuse the DrChrono source's ``RemoteFile`` (size limit, content checks, Range
resume): the Bulk Data client offers the same ``stream``/``pause_before_retry`` interface.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..drchrono.files import DEFAULT_MAX_BYTES, MEDIA_TYPES, RemoteFile
from ..records import Blob, RecordUnavailable
from .client import BulkDataClient
from .fhir import MappingError

#: the file type of an attachment whose media type names none we know
UNKNOWN_EXTENSION = "bin"

#: base64 characters decoded at a time: a multiple of 4, about 64 KiB of bytes
_INLINE_SLICE = 4 * 16 * 1024
_EXTENSIONS = {media_type: extension for extension, media_type in MEDIA_TYPES.items()}
_EXTENSIONS.update({"image/jpg": "jpg", "text/xml": "xml", "application/x-pdf": "pdf"})


class InlineFile:
    """An attachment's inline ``data``, decoded slice by slice as it is read."""

    def __init__(self, data: str, *, label: str, extension: str) -> None:
        self._data = data
        self.label = label
        self.extension = extension
        self.media_type = MEDIA_TYPES.get(extension, "application/octet-stream")
        self.size: int | None = len(data) * 3 // 4

    def __repr__(self) -> str:
        return f"InlineFile({self.label}, {self.extension})"

    def chunks(self) -> Iterator[bytes]:
        data = "".join(self._data.split())  # base64 may be wrapped in lines
        for start in range(0, len(data), _INLINE_SLICE):
            try:
                yield base64.b64decode(data[start : start + _INLINE_SLICE], validate=True)
            except (binascii.Error, ValueError):
                raise RecordUnavailable(f"{self.label} file is not valid base64") from None


class AttachmentFiles:
    """Makes the ``Blob`` for an Attachment, through the export's client."""

    def __init__(self, client: BulkDataClient, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._client = client
        self._max_bytes = max_bytes

    def blob(self, attachment: Mapping[str, Any], label: str) -> Blob | None:
        """None for an attachment with neither data nor url (nothing to fetch)."""
        if not isinstance(attachment, Mapping):
            raise MappingError("an attachment is not an object")
        extension = extension_of(attachment)
        data, url = attachment.get("data"), attachment.get("url")
        if isinstance(data, str) and data:
            return InlineFile(data, label=label, extension=extension)
        if isinstance(url, str) and url:
            return RemoteFile(
                self._client,  # type: ignore[arg-type] - the same file-fetching interface
                url,
                label=label,
                extension=extension,
                max_bytes=self._max_bytes,
            )
        return None


def extension_of(attachment: Mapping[str, Any]) -> str:
    """From the attachment's contentType, else its url's or title's suffix."""
    content_type = attachment.get("contentType")
    if isinstance(content_type, str):
        extension = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
        if extension:
            return extension
    for key in ("url", "title"):
        value = attachment.get(key)
        if isinstance(value, str):
            suffix = PurePosixPath(urlsplit(value).path).suffix.lower().lstrip(".")
            suffix = {"jpeg": "jpg", "tiff": "tif", "htm": "html"}.get(suffix, suffix)
            if suffix in MEDIA_TYPES:
                return suffix
    return UNKNOWN_EXTENSION


def media_type_of(attachment: Mapping[str, Any]) -> str:
    value = attachment.get("contentType")
    return value.split(";")[0].strip().lower() if isinstance(value, str) else ""
