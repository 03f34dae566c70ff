"""The data dictionary people read: every table of ``deliverable_schema`` with where it sits in
the archive. The archive's ``Read me first.html`` and the portal's public page show the same
tables, from this one list."""

from __future__ import annotations

from dataclasses import dataclass

from exports.deliverable_schema import FORMAT_VERSION, SHEETS, TABLES, Table
from exports.packaging.layout import (
    CLINICAL_DATA_EXPORT,
    IMAGE_INDEX,
    MANIFEST,
    PATIENT_IMAGES_EXPORT,
    RECONCILIATION,
    WORKBOOK,
)

#: the public page's path (``exports.urls`` serves it there); the archive links to it without
#: asking the URL configuration, which packaging processes do not load
DICTIONARY_PATH = "data-dictionary/"
_CSV_FOLDERS = {
    IMAGE_INDEX: PATIENT_IMAGES_EXPORT,
    MANIFEST: CLINICAL_DATA_EXPORT,
    RECONCILIATION: CLINICAL_DATA_EXPORT,
}


@dataclass(frozen=True, slots=True)
class DictionaryTable:
    table: Table
    location: str  # where it is, from the archive's root folder

    @property
    def anchor(self) -> str:
        return f"table-{self.table.key}"


def dictionary_tables() -> list[DictionaryTable]:
    sheets = {sheet.key for sheet in SHEETS}
    return [
        DictionaryTable(
            table,
            f"{CLINICAL_DATA_EXPORT}/{WORKBOOK}, sheet “{table.name}”"
            if table.key in sheets
            else f"{_CSV_FOLDERS[table.name]}/{table.name}",
        )
        for table in TABLES
    ]


def dictionary_url() -> str:
    """The public page's absolute address (the archive links to it)."""
    # Imported here: batch workers import this module (through ``exports.packaging``) and
    # never ask for the address; Django's settings machinery would weigh on every one of them.
    from django.conf import settings

    return f"{settings.PORTAL_BASE_URL.rstrip('/')}/{DICTIONARY_PATH}"


def dictionary_context() -> dict[str, object]:
    return {"tables": dictionary_tables(), "format_version": FORMAT_VERSION}
