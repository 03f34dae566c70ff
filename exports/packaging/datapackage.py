"""``datapackage.json``: the deliverable described as a Frictionless Data Package, so the next
EHR's team can validate every table with standard tools (``frictionless validate
datapackage.json``) before importing it.

Every table of ``deliverable_schema`` is a resource with its Table Schema: each worksheet of
the workbook (format ``xlsx``, the sheet named by the dialect; a sheet continued on
``"<name> (2)"``... is one resource per worksheet), and the CSV files. Every table's
``Patient ID`` is a foreign key into the Patients sheet. The descriptor sits at the root of the
tree, so resource paths are plain relative paths (the standard forbids ``..``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree
from zipfile import ZipFile

from exports.deliverable_schema import (
    CSV_TABLES,
    FORMAT_VERSION,
    IMAGE_INDEX,
    MANIFEST,
    PATIENT_ID,
    PATIENTS,
    RECONCILIATION,
    SHEETS,
    TABLE_SCHEMA_TYPES,
    Column,
    Table,
)

from .layout import ExportLayout
from .manifest import hash_file
from .tree import replacing

FILE_NAME = "datapackage.json"
PROFILE = "tabular-data-package"
RESOURCE_PROFILE = "tabular-data-resource"
_SPREADSHEET_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_CONTINUATION = re.compile(r"(?P<name>.+) \((?P<part>[2-9]|[1-9][0-9]+)\)")


def worksheet_titles(workbook: Path) -> list[str]:
    """The titles of the workbook's worksheets, in order (read from its ``xl/workbook.xml``)."""
    with ZipFile(workbook) as package:
        root = ElementTree.fromstring(package.read("xl/workbook.xml"))  # noqa: S314 (ours)
    return [sheet.attrib["name"] for sheet in root.iter(f"{{{_SPREADSHEET_MAIN}}}sheet")]


def field_descriptor(column: Column) -> dict[str, Any]:
    field_type, field_format = TABLE_SCHEMA_TYPES[column.kind]
    descriptor: dict[str, Any] = {
        "name": column.header,
        "type": field_type,
        "format": field_format,
        "description": column.description,
    }
    if column.code_system is not None:
        descriptor["codeSystem"] = str(column.code_system)
    constraints: dict[str, Any] = {}
    if column.required:
        constraints["required"] = True
    if column.pattern:
        constraints["pattern"] = column.pattern
    if constraints:
        descriptor["constraints"] = constraints
    return descriptor


def table_schema(table: Table, *, patients_in_one_sheet: bool = True) -> dict[str, Any]:
    """The Table Schema of ``table``: its fields, primary key, and the key into Patients.

    A foreign key names one resource, so when Patients is continued on more worksheets (past
    Excel's 1,048,575 rows) the key cannot be stated and is left out (it still holds)."""
    schema: dict[str, Any] = {
        "fields": [field_descriptor(column) for column in table.columns],
        "missingValues": [""],
    }
    if table.primary_key:
        schema["primaryKey"] = list(table.primary_key)
    if table.refers_to_patients and patients_in_one_sheet:
        schema["foreignKeys"] = [
            {
                "fields": [PATIENT_ID],
                "reference": {"resource": PATIENTS.key, "fields": [PATIENT_ID]},
            }
        ]
    return schema


def data_package(layout: ExportLayout, tree_dir: Path, *, dictionary_url: str) -> dict[str, Any]:
    """The descriptor of the deliverable under ``tree_dir / layout.root``."""
    return {
        "profile": PROFILE,
        "name": "patient-data-export",
        "title": f"{layout.practice_name}: patient data export of {layout.export_date}",
        "description": (
            "Every table of the practice's patient data export, with its columns, types, code "
            "systems and keys. The data dictionary: Read me first.html, and " + dictionary_url
        ),
        "version": FORMAT_VERSION,
        "exportFormatVersion": FORMAT_VERSION,
        "created": f"{layout.export_date.isoformat()}T00:00:00Z",
        "homepage": dictionary_url,
        "resources": list(_resources(layout, tree_dir)),
    }


def write_data_package(
    layout: ExportLayout, tree_dir: Path, *, dictionary_url: str
) -> PurePosixPath:
    """Write ``datapackage.json`` at the deliverable's root; returns its path from ``tree_dir``."""
    out = layout.root / FILE_NAME
    descriptor = data_package(layout, tree_dir, dictionary_url=dictionary_url)
    with replacing(tree_dir / out) as temp:
        temp.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return out


def _resources(layout: ExportLayout, tree_dir: Path) -> Iterator[dict[str, Any]]:
    sheets = {sheet.name: sheet for sheet in SHEETS}
    workbook = _relative(layout, layout.workbook)
    titles = worksheet_titles(tree_dir / layout.workbook)
    one_sheet = f"{PATIENTS.name} (2)" not in titles
    for title in titles:
        continuation = _CONTINUATION.fullmatch(title)
        sheet = sheets.get(title) or sheets[continuation["name"]]  # type: ignore[index]
        name = sheet.key if continuation is None else f"{sheet.key}-{continuation['part']}"
        yield {
            "profile": RESOURCE_PROFILE,
            "name": name,
            "title": title,
            "description": sheet.description,
            "path": workbook,
            "format": "xlsx",
            "mediatype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            # the sheet as Table Dialect 2.0 names it, and as frictionless-py 5 reads it
            "dialect": {"sheetName": title, "excel": {"sheet": title}},
            "schema": table_schema(sheet, patients_in_one_sheet=one_sheet),
        }
    files = {
        IMAGE_INDEX.key: layout.image_index,
        MANIFEST.key: layout.manifest,
        RECONCILIATION.key: layout.reconciliation,
    }
    for table in CSV_TABLES:
        path = files[table.key]
        _, size, sha256 = hash_file(tree_dir, path)
        yield {
            "profile": RESOURCE_PROFILE,
            "name": table.key,
            "title": table.name,
            "description": table.description,
            "path": _relative(layout, path),
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8-sig",
            "bytes": size,
            "hash": f"sha256:{sha256}",
            "schema": table_schema(table, patients_in_one_sheet=one_sheet),
        }


def _relative(layout: ExportLayout, path: PurePosixPath) -> str:
    return str(path.relative_to(layout.root))
