"""Running ``manage.py export_practice`` as the data team does, and reading what it made."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

from tests.deliverable_checks import assert_deliverable_verifies

REPO = Path(__file__).resolve().parents[2]
SEVEN_ZIP = "7z"
PACKAGE_FILES = {
    "Clinical Data Export/Patient_Data_Export.xlsx",
    "Clinical Data Export/manifest.csv",
    "Clinical Data Export/reconciliation.csv",
    "Patient Images Export/patient_images_index.csv",
}
#: the files that describe the export, written after the manifest (which does not list them)
DESCRIBING_FILES = {"datapackage.json", "Read me first.html", "Clinical Data Export/SHA256SUMS"}


@dataclass(frozen=True)
class CommandRun:
    """One run of the command in a child process, as a shell would see it."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_bytes: int
    portal_data_dir: Path

    def archives(self) -> list[Path]:
        return [Path(path) for path in re.findall(r"^Archive: (.+\.zip) \(", self.stdout, re.M)]

    def kept_tree(self) -> Path:
        """The deliverable's root folder the command kept; it must verify."""
        match = re.search(r"^Unpacked tree kept for inspection: (.+)$", self.stdout, re.M)
        assert match, self.stdout
        root = Path(match.group(1))
        assert_deliverable_verifies(root)
        return root


def run_export_command(work_dir: Path, *args: str) -> CommandRun:
    """``manage.py export_practice *args`` in a child process with a portal data directory of
    its own (where a SQLite database would appear if the command touched the database).

    Output goes to files, not pipes, so the child can be reaped with ``os.wait4``, which
    gives its own peak RSS.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = work_dir / "portal-data"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    env["EXPORT_DATA_DIR"] = str(data_dir)
    stdout_path, stderr_path = work_dir / "stdout.txt", work_dir / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "export_practice", *args],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return CommandRun(
        returncode=process.returncode,
        stdout=stdout_path.read_text(encoding="utf-8"),
        stderr=stderr_path.read_text(encoding="utf-8"),
        peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        portal_data_dir=data_dir,
    )


def demo_export_args(
    work_dir: Path, *, patients: int, seed: int = 7, large_document_bytes: int = 65536
) -> list[str]:
    return [
        "--source=demo",
        f"--patients={patients}",
        f"--seed={seed}",
        f"--out={work_dir / 'out'}",
        f"--password-file={work_dir / 'archive-password.txt'}",
        f"--large-document-bytes={large_document_bytes}",
    ]


def seven_zip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEVEN_ZIP, *args], capture_output=True, text=True, encoding="utf-8", check=False
    )


def extract_with_seven_zip(archive: Path, password: str, into: Path) -> Path:
    """Both layers, as the customer opens them: the encrypted zip, then the zip inside it.
    Returns the folder the deliverable's root folder was extracted into."""
    outer = seven_zip("x", f"-p{password}", f"-o{into / 'outer'}", "-y", str(archive))
    assert outer.returncode == 0, outer.stdout + outer.stderr
    (inner,) = (into / "outer").iterdir()
    tree = into / "tree"
    unpacked = seven_zip("x", f"-o{tree}", "-y", str(inner))
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    if ".part" not in archive.name:  # a part alone is not the whole deliverable
        (root,) = tree.iterdir()
        assert_deliverable_verifies(root)
    return tree


def file_digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder``: its path relative to it, and its SHA-256."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def workbook_sheets(path: Path) -> dict[str, list[dict[str, object]]]:
    """Every sheet as rows keyed by the header row (continuation sheets stay separate)."""
    workbook = load_workbook(path, read_only=True)
    sheets = {}
    for sheet in workbook.worksheets:
        header, *rows = sheet.iter_rows(values_only=True)
        sheets[sheet.title] = [dict(zip(header, row, strict=True)) for row in rows]
    workbook.close()
    return sheets


def medications_and_immunizations(
    sheets: dict[str, list[dict[str, object]]],
) -> tuple[Counter, Counter]:
    """Rows of the Medications sheet per patient: (medications, vaccine records). The workbook
    has no immunization sheet; a vaccine record is a Medications row named "(immunization".
    """
    medications: Counter = Counter()
    immunizations: Counter = Counter()
    for row in sheets["Medications"]:
        vaccine = "(immunization" in str(row["Name"])
        (immunizations if vaccine else medications)[row["Patient ID"]] += 1
    return medications, immunizations
