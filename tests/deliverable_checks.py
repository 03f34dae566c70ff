"""What every deliverable the tests produce must pass, as the receiving EHR's team would check
it with standard tools: its ``datapackage.json`` validates with the ``frictionless`` library
(every sheet and CSV file against its Table Schema, foreign keys into Patients included, zero
errors), and ``sha256sum -c SHA256SUMS`` (and ``shasum -a 256 -c``, where installed) passes in
the folder that holds it.

Called where the tests unpack or inspect a deliverable (``tests/deliverable/deliverable_helpers``,
the packaging tests' export helpers) and, through ``tests/conftest.py``, before every archive a
test builds in its own process.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
from frictionless import Package, system

from exports.packaging.checksums import FILE_NAME as CHECKSUMS
from exports.packaging.datapackage import FILE_NAME as DATAPACKAGE
from exports.packaging.layout import CLINICAL_DATA_EXPORT
from exports.packaging.readme import FILE_NAME as README


def data_package_errors(root: Path) -> list[list[object]]:
    """Every error ``frictionless`` finds in the deliverable under ``root`` (its root folder)."""
    with system.use_context(trusted=False), _workbook_read_once():
        package = Package(str(root / DATAPACKAGE), basepath=str(root))
        report = package.validate()
    return report.flatten(["type", "rowNumber", "fieldName", "note"])


@contextmanager
def _workbook_read_once() -> Iterator[None]:
    """frictionless opens the workbook with openpyxl for every sheet and every foreign key, and
    each opening reads every sheet through (our sheets state no ``<dimension>``): one opening
    per file serves them all (read-only worksheets read their rows afresh on each pass)."""
    load = openpyxl.load_workbook
    opened: dict[str, object] = {}

    def load_once(source, *args, **kwargs):
        name = getattr(source, "name", None)
        if not isinstance(name, str):
            return load(source, *args, **kwargs)
        if name not in opened:
            opened[name] = load(name, *args, **kwargs)
        return opened[name]

    openpyxl.load_workbook = load_once
    try:
        yield
    finally:
        openpyxl.load_workbook = load
        for workbook in opened.values():
            workbook.close()  # type: ignore[attr-defined]


def checksum_run(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "-c", CHECKSUMS],
        cwd=root / CLINICAL_DATA_EXPORT,
        capture_output=True,
        text=True,
        check=False,
    )


#: SHA-256 of every SHA256SUMS whose tree passed validation in this process
_VALIDATED_SUMS: set[str] = set()


def assert_deliverable_verifies(root: Path) -> None:
    """``root`` is a deliverable's root folder, ``<Practice>_Data_Export_<date>``.

    Validation reads the workbook once per sheet and per foreign key (seconds), so a tree is
    validated once per content: once ``sha256sum -c`` has shown the files are those its
    SHA256SUMS lists, a SHA256SUMS already seen means every file (``datapackage.json`` and the
    tables included) is byte for byte one that validated. Exports are deterministic, so the
    same practice exported again is not validated twice."""
    assert (root / README).is_file()
    commands = [("sha256sum",)] + ([("shasum", "-a", "256")] if shutil.which("shasum") else [])
    for command in commands:
        run = checksum_run(root, *command)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    sums = hashlib.sha256((root / CLINICAL_DATA_EXPORT / CHECKSUMS).read_bytes()).hexdigest()
    if sums not in _VALIDATED_SUMS:
        errors = data_package_errors(root)
        assert errors == [], errors[:20]
        _VALIDATED_SUMS.add(sums)
