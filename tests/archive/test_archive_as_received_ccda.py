"""A source's C-CDA kept as received travels with its patient when the archive is split."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pyzipper

from exports.archive import build_archive
from exports.passwords import generate_archive_password

ROOT = "Sunrise_Family_Medicine_Data_Export_2025-06-01"
CCDA = f"{ROOT}/Clinical Data Export/CCDA Files"
KEPT = f"{CCDA}/As received from the EHR"
PATIENTS = [f"10{n:02d}_C10{n:02d}_Patient{n:02d}_Pat_1970-01-{n:02d}" for n in range(1, 9)]
PASSWORD = generate_archive_password()


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree" / ROOT
    clinical = root / "Clinical Data Export"
    (clinical / "CCDA Files" / "As received from the EHR").mkdir(parents=True)
    (clinical / "Patient_Data_Export.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(2_000))
    for folder in PATIENTS:
        records = clinical / "Patient Records" / folder
        records.mkdir(parents=True)
        (records / "note.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(6_000))
        (clinical / "CCDA Files" / f"{folder}.xml").write_bytes(os.urandom(3_000))
        (clinical / "CCDA Files" / "As received from the EHR" / f"{folder}.xml").write_bytes(
            os.urandom(3_000)
        )
    return root


def names_in(part) -> set[str]:
    with pyzipper.AESZipFile(part.path) as outer:
        outer.setpassword(PASSWORD.encode())
        (name,) = outer.namelist()
        inner = outer.read(name)
    with zipfile.ZipFile(io.BytesIO(inner)) as opened:
        return set(opened.namelist())


def test_the_kept_copy_is_in_the_part_of_its_patient(tmp_path):
    parts = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD, part_bytes=30_000)

    assert len(parts) > 2
    for folder in PATIENTS:
        holding = [part.number for part in parts if f"{CCDA}/{folder}.xml" in names_in(part)]
        kept = [part.number for part in parts if f"{KEPT}/{folder}.xml" in names_in(part)]
        assert kept == holding and len(kept) == 1, folder
