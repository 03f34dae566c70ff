"""Uploaded files: checked by content (never by name or declared type), and stored before the
transaction that records them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from pypdf import PdfReader
from pypdf.errors import PdfReadError

logger = logging.getLogger(__name__)

MAX_ADDENDUM_BYTES = 10 * 1024 * 1024


def validate_signed_addendum(upload: UploadedFile) -> None:
    """A readable PDF of at most 10 MB with at least one page."""
    if upload.size is None or upload.size == 0:
        raise ValidationError("The file is empty.")
    if upload.size > MAX_ADDENDUM_BYTES:
        raise ValidationError("The signed addendum must be at most 10 MB.")
    upload.seek(0)
    if upload.read(5) != b"%PDF-":
        raise ValidationError("The signed addendum must be a PDF document.")
    upload.seek(0)
    try:
        pages = len(PdfReader(upload).pages)
    except (PdfReadError, ValueError, OSError, KeyError, TypeError):
        raise ValidationError("The PDF could not be read; it may be damaged.") from None
    finally:
        upload.seek(0)
    if pages < 1:
        raise ValidationError("The PDF has no pages.")


@contextmanager
def stored_first(field_file: FieldFile, filename: str, upload: UploadedFile) -> Iterator[str]:
    """Write the upload to the field's storage and give its stored name, before any
    transaction: the body records it (and the event) in a short transaction, so the audit
    chain's lock is never held across file I/O. If the body fails, the file is removed."""
    name = field_file.storage.save(field_file.field.generate_filename(None, filename), upload)
    try:
        yield name
    except BaseException:
        field_file.storage.delete(name)
        raise
