"""The encrypted archive: what the customer can open, and what nobody can read without the
password."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import pyzipper

from exports.archive import ArchiveError, ArchivePart, build_archive
from exports.passwords import generate_archive_password
from tests.tools import needs_7z

ROOT = "Sunrise_Family_Medicine_Data_Export_2025-06-01"
SECRET_SURNAME = "Quillfeatherby"  # a fake patient name that must never show without the password
SECRET_PATIENT = f"1001_C1001_{SECRET_SURNAME}_Zebediah_1961-02-03"
PASSWORD = generate_archive_password()


# --- builders ------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def add_patient(root: Path, folder: str) -> None:
    """One patient's files in all three places a patient lives in the deliverable."""
    records = root / "Clinical Data Export" / "Patient Records" / folder
    write(records / "Signed Clinical Notes" / "501.pdf", b"%PDF-1.7\n" + os.urandom(3_000))
    write(records / "Uploaded Documents" / "601.txt", b"lab letter " * 200)
    write(
        records / "Message Center" / "Messages" / "701_2024-03-05T14-30-00.txt",
        f"Dear {folder}, your results are in.".encode(),
    )
    (records / "Message Center" / "Faxes").mkdir(parents=True)  # empty folders survive too
    write(
        root / "Clinical Data Export" / "CCDA Files" / f"{folder}.xml",
        f"<ClinicalDocument><name>{folder}</name></ClinicalDocument>".encode(),
    )
    images = root / "Patient Images Export" / folder
    write(images / "patient_photo.jpg", b"\xff\xd8\xff\xe0" + os.urandom(2_000))
    write(images / "Primary Insurance" / "front.jpg", b"\xff\xd8\xff\xe0" + os.urandom(1_000))


def make_tree(tmp_path: Path, patients: list[str] | None = None) -> Path:
    """A small deliverable tree: practice-wide files plus the given patients."""
    root = tmp_path / "tree" / ROOT
    clinical = root / "Clinical Data Export"
    write(clinical / "Patient_Data_Export.xlsx", b"PK\x03\x04" + os.urandom(4_000))
    write(clinical / "manifest.csv", b"path,bytes,sha256\n" * 50)
    write(clinical / "reconciliation.csv", b"category,in_source,exported\n" * 20)
    write(root / "Patient Images Export" / "patient_images_index.csv", b"patient_id,kind\n" * 30)
    for folder in patients or [SECRET_PATIENT, "1002_C1002_Doe_Jane_1970-01-01"]:
        add_patient(root, folder)
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``root``, by path below its parent."""
    found: dict[str, bytes | None] = {root.name + "/": None}
    for path in root.rglob("*"):
        name = path.relative_to(root.parent).as_posix()
        found[name + "/" if path.is_dir() else name] = None if path.is_dir() else path.read_bytes()
    return found


def inner_zip_bytes(part: ArchivePart, password: str = PASSWORD) -> bytes:
    with pyzipper.AESZipFile(part.path) as outer:
        outer.setpassword(password.encode())
        (name,) = outer.namelist()
        return outer.read(name)


def extract_with_pyzipper(part: ArchivePart, into: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(inner_zip_bytes(part))) as inner:
        inner.extractall(into)


def inner_infos(part: ArchivePart) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(inner_zip_bytes(part))) as inner:
        return {info.filename: info for info in inner.infolist()}


def run_7z(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["7z", *map(str, args)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


# --- opening it ----------------------------------------------------------------------------


@needs_7z
def test_it_opens_with_7zip_then_the_inner_zip_and_gives_back_the_tree_byte_for_byte(tmp_path):
    root = make_tree(tmp_path)
    (part,) = build_archive(root, tmp_path / "out", PASSWORD)

    outer = run_7z("x", f"-p{PASSWORD}", f"-o{tmp_path / 'step1'}", part.path)
    assert outer.returncode == 0, outer.stdout + outer.stderr
    (inner_zip,) = (tmp_path / "step1").iterdir()
    assert inner_zip.name == f"{ROOT}.contents.zip"
    inner = run_7z("x", f"-o{tmp_path / 'step2'}", inner_zip)  # no second password
    assert inner.returncode == 0, inner.stdout + inner.stderr

    assert snapshot(tmp_path / "step2" / ROOT) == snapshot(root)


def test_it_opens_with_pyzipper_given_the_password(tmp_path):
    root = make_tree(tmp_path)
    (part,) = build_archive(root, tmp_path / "out", PASSWORD)

    extract_with_pyzipper(part, tmp_path / "extracted")

    assert snapshot(tmp_path / "extracted" / ROOT) == snapshot(root)
    assert part.path == tmp_path / "out" / f"{ROOT}.zip"
    assert (part.number, part.of, part.patient_folders) == (1, 1, 2)


def test_the_part_reports_the_size_and_digests_of_the_file_on_disk(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    data = part.path.read_bytes()
    assert part.bytes == len(data)
    assert part.sha256 == hashlib.sha256(data).hexdigest()
    assert part.sha1 == hashlib.sha1(data).hexdigest()


# --- nothing readable without the password -------------------------------------------------


@needs_7z
def test_a_listing_without_the_password_shows_no_patient(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    listing = run_7z("l", part.path)

    assert listing.returncode == 0
    assert f"{ROOT}.contents.zip" in listing.stdout
    assert SECRET_SURNAME not in listing.stdout + listing.stderr
    assert "Patient Records" not in listing.stdout


def test_zip_readers_without_the_password_see_only_the_inner_zip_name(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    with zipfile.ZipFile(part.path) as plain:
        assert plain.namelist() == [f"{ROOT}.contents.zip"]
        with pytest.raises(RuntimeError, match="password required"):
            plain.read(f"{ROOT}.contents.zip")
    with pyzipper.AESZipFile(part.path) as aes:
        assert aes.namelist() == [f"{ROOT}.contents.zip"]
        with pytest.raises(RuntimeError, match="requires a password"):
            aes.read(f"{ROOT}.contents.zip")


def test_no_patient_name_appears_anywhere_in_the_archive_bytes(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    data = part.path.read_bytes()
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        assert SECRET_SURNAME.encode(encoding) not in data
    assert b"Patient Records" not in data  # the whole tree is hidden, not only the names
    assert SECRET_SURNAME.encode() in inner_zip_bytes(part)  # ... yet it is all in there


@needs_7z
def test_a_wrong_password_opens_nothing(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    result = run_7z("x", "-pWRONG-PASSWORD", f"-o{tmp_path / 'x'}", part.path)
    assert result.returncode != 0
    assert "Wrong password" in result.stdout + result.stderr

    with pyzipper.AESZipFile(part.path) as outer:
        outer.setpassword(b"WRONG-PASSWORD")
        with pytest.raises(RuntimeError, match="Bad password"):
            outer.read(outer.namelist()[0])


def test_the_password_is_never_in_an_error(tmp_path):
    with pytest.raises(ValueError) as error:
        build_archive(make_tree(tmp_path), tmp_path / "out", "pässwort-ü")
    assert "pässwort" not in str(error.value)


# --- the inner zip -------------------------------------------------------------------------


def test_compressed_formats_are_stored_and_text_is_deflated(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    infos = inner_infos(part)
    records = f"{ROOT}/Clinical Data Export/Patient Records/{SECRET_PATIENT}"
    images = f"{ROOT}/Patient Images Export/{SECRET_PATIENT}"
    stored = [
        f"{records}/Signed Clinical Notes/501.pdf",
        f"{images}/patient_photo.jpg",
        f"{ROOT}/Clinical Data Export/Patient_Data_Export.xlsx",
    ]
    deflated = [
        f"{records}/Uploaded Documents/601.txt",
        f"{ROOT}/Clinical Data Export/CCDA Files/{SECRET_PATIENT}.xml",
        f"{ROOT}/Clinical Data Export/manifest.csv",
    ]
    assert [infos[name].compress_type for name in stored] == [zipfile.ZIP_STORED] * 3
    assert [infos[name].compress_type for name in deflated] == [zipfile.ZIP_DEFLATED] * 3


def test_a_pdf_that_deflate_shrinks_is_deflated_and_a_jpeg_is_stored_untried(tmp_path):
    root = make_tree(tmp_path)
    records = root / "Clinical Data Export" / "Patient Records" / SECRET_PATIENT
    text_pdf = b"%PDF-1.7\n" + b"BT /F1 12 Tf (Blood pressure 120/80) Tj ET\n" * 500
    write(records / "Signed Clinical Notes" / "502.pdf", text_pdf)
    write(records / "Uploaded Documents" / "603.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 5_000)

    (part,) = build_archive(root, tmp_path / "out", PASSWORD)

    infos = inner_infos(part)
    prefix = f"{ROOT}/Clinical Data Export/Patient Records/{SECRET_PATIENT}"
    assert infos[f"{prefix}/Signed Clinical Notes/502.pdf"].compress_type == zipfile.ZIP_DEFLATED
    assert infos[f"{prefix}/Uploaded Documents/603.jpg"].compress_type == zipfile.ZIP_STORED


def test_two_runs_over_the_same_tree_write_the_same_inner_zip(tmp_path):
    root = make_tree(tmp_path)
    (first,) = build_archive(root, tmp_path / "one", PASSWORD)
    (second,) = build_archive(root, tmp_path / "two", PASSWORD)

    assert inner_zip_bytes(first) == inner_zip_bytes(second)
    assert first.sha256 != second.sha256  # only the random AES salt differs


def test_entries_are_sorted_and_dated_with_the_export_date(tmp_path):
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    infos = list(inner_infos(part).values())
    assert {info.date_time for info in infos} == {(2025, 6, 1, 0, 0, 0)}
    siblings_in_order = [info.filename for info in infos if info.filename.count("/") == 2]
    assert siblings_in_order == sorted(siblings_in_order)


def test_large_entries_are_written_as_zip64(tmp_path):
    """A member over 4 GiB is too slow for a unit test; what makes it work is checked instead:
    the outer entry, whose size is unknown when its header is written, always carries the
    zip64 extra field, so it can grow past 4 GiB."""
    (part,) = build_archive(make_tree(tmp_path), tmp_path / "out", PASSWORD)

    data = part.path.read_bytes()
    with zipfile.ZipFile(part.path) as plain:
        (info,) = plain.infolist()
    name_end = info.header_offset + 30 + len(info.filename.encode())
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    local_extra = data[name_end : name_end + extra_length]
    assert local_extra[:2] == (0x0001).to_bytes(2, "little")  # zip64 extended information


# --- parts ---------------------------------------------------------------------------------

PATIENTS = [f"10{n:02d}_C10{n:02d}_Patient{n:02d}_Pat_1970-01-{n:02d}" for n in range(1, 13)]


def patient_of(name: str) -> str | None:
    """The patient a path of the extracted tree belongs to, by the deliverable's layout."""
    parts = name.rstrip("/").split("/")
    if parts[1:3] == ["Clinical Data Export", "Patient Records"] and len(parts) >= 4:
        return parts[3]
    if parts[1:3] == ["Clinical Data Export", "CCDA Files"] and parts[-1].endswith(".xml"):
        return parts[3].removesuffix(".xml")
    if parts[1:2] == ["Patient Images Export"] and len(parts) >= 3 and not name.endswith(".csv"):
        return parts[2]
    return None


def test_a_large_archive_is_split_along_patients_into_parts_that_open_on_their_own(tmp_path):
    root = make_tree(tmp_path, PATIENTS)
    part_bytes = 40_000

    parts = build_archive(root, tmp_path / "out", PASSWORD, part_bytes=part_bytes)

    assert len(parts) > 2
    assert [part.path.name for part in parts] == [
        f"{ROOT}.part{n}-of-{len(parts)}.zip" for n in range(1, len(parts) + 1)
    ]
    assert all(part.bytes <= part_bytes for part in parts)
    assert sum(part.patient_folders for part in parts) == len(PATIENTS)
    assert max(part.patient_folders for part in parts) > 1

    owner_part: dict[str, int] = {}
    union: dict[str, bytes | None] = {}
    for part in parts:
        extract_with_pyzipper(part, tmp_path / f"part{part.number}")  # each opens alone
        files = snapshot(tmp_path / f"part{part.number}" / ROOT)
        patients = {patient_of(name) for name in files} - {None}
        assert len(patients) == part.patient_folders
        for patient in patients:
            assert owner_part.setdefault(patient, part.number) == part.number  # never split
        union.update(files)
    assert union == snapshot(root)

    practice_files = {name for name in union if patient_of(name) is None and union[name]}
    assert practice_files <= set(snapshot(tmp_path / "part1" / ROOT))


@needs_7z
def test_every_part_extracted_with_7zip_into_one_folder_gives_back_the_whole_tree(tmp_path):
    """What the customer is told to do: open each part with 7-Zip, then its contents zip,
    all into the same folder."""
    root = make_tree(tmp_path, PATIENTS)
    parts = build_archive(root, tmp_path / "out", PASSWORD, part_bytes=40_000)
    assert len(parts) > 2

    together = tmp_path / "together"
    for part in parts:
        step1 = tmp_path / f"outer{part.number}"
        outer = run_7z("x", f"-p{PASSWORD}", f"-o{step1}", part.path)
        assert outer.returncode == 0, outer.stdout + outer.stderr
        (inner_zip,) = step1.iterdir()
        inner = run_7z("x", "-y", f"-o{together}", inner_zip)
        assert inner.returncode == 0, inner.stdout + inner.stderr

    assert snapshot(together / ROOT) == snapshot(root)


def test_a_patient_larger_than_a_part_gets_a_part_of_their_own(tmp_path):
    root = make_tree(tmp_path, PATIENTS[:3])
    big = "1000_C1000_Big_Bertha_1950-05-05"
    add_patient(root, big)
    scan = root / "Clinical Data Export" / "Patient Records" / big / "Uploaded Documents" / "9.pdf"
    write(scan, os.urandom(60_000))

    parts = build_archive(root, tmp_path / "out", PASSWORD, part_bytes=50_000)

    big = [part for part in parts if part.bytes > 50_000]
    assert len(big) == 1
    assert big[0].patient_folders == 1
    assert any("Big_Bertha" in name for name in inner_infos(big[0]))


def test_a_rerun_replaces_the_earlier_parts(tmp_path):
    root = make_tree(tmp_path, PATIENTS)
    out = tmp_path / "out"
    split = build_archive(root, out, PASSWORD, part_bytes=40_000)
    (whole,) = build_archive(root, out, PASSWORD)

    assert len(split) > 1
    assert sorted(out.iterdir()) == [whole.path]


# --- progress, memory, bad input -----------------------------------------------------------


def test_progress_climbs_to_the_tree_size(tmp_path):
    root = make_tree(tmp_path, PATIENTS)
    calls: list[tuple[int, int]] = []

    build_archive(
        root,
        tmp_path / "out",
        PASSWORD,
        part_bytes=40_000,
        progress=lambda done, total: calls.append((done, total)),
    )

    tree_bytes = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    assert {total for _, total in calls} == {tree_bytes}
    done = [done for done, _ in calls]
    assert done == sorted(done)
    assert done[-1] == tree_bytes


def test_memory_stays_flat_while_a_large_file_is_archived(tmp_path):
    root = make_tree(tmp_path)
    big = root / "Clinical Data Export" / "Patient Records" / SECRET_PATIENT / "scan.pdf"
    with open(big, "wb") as file:
        for _ in range(64):
            file.write(os.urandom(1 << 20))

    tracemalloc.start()
    try:
        (part,) = build_archive(root, tmp_path / "out", PASSWORD)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert part.bytes > 64 << 20
    assert peak < 12 << 20  # a few 1 MiB buffers, not the 64 MiB file


def test_a_file_that_changes_while_archived_fails_the_archive_and_leaves_nothing(tmp_path):
    root = make_tree(tmp_path)
    grows = root / "Clinical Data Export" / "reconciliation.csv"

    def tamper(done: int, total: int) -> None:
        with open(grows, "ab") as file:
            file.write(b"late row\n")

    with pytest.raises(ArchiveError, match="changed") as error:
        build_archive(root, tmp_path / "out", PASSWORD, progress=tamper)

    assert SECRET_SURNAME not in str(error.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_that_vanishes_while_archived_is_an_error_that_names_no_one(tmp_path):
    root = make_tree(tmp_path)
    vanishes = root / "Clinical Data Export" / "CCDA Files" / "1002_C1002_Doe_Jane_1970-01-01.xml"

    def delete(done: int, total: int) -> None:
        vanishes.unlink(missing_ok=True)

    with pytest.raises(ArchiveError, match="No such file") as error:
        build_archive(root, tmp_path / "out", PASSWORD, progress=delete)

    assert "Doe_Jane" not in str(error.value)
    assert error.value.__suppress_context__  # the OSError naming the file stays out of logs
    assert list((tmp_path / "out").iterdir()) == []


def test_a_symlink_in_the_tree_is_refused_without_naming_it(tmp_path):
    root = make_tree(tmp_path)
    folder = root / "Patient Images Export" / SECRET_PATIENT
    (folder / "link.jpg").symlink_to(folder / "patient_photo.jpg")

    with pytest.raises(ArchiveError, match="link or a special file") as error:
        build_archive(root, tmp_path / "out", PASSWORD)

    assert SECRET_SURNAME not in str(error.value)


def test_an_archive_inside_its_own_tree_is_refused(tmp_path):
    root = make_tree(tmp_path)

    with pytest.raises(ValueError, match="inside the tree"):
        build_archive(root, root / "Clinical Data Export" / "archive", PASSWORD)


def test_a_missing_tree_is_a_clear_error(tmp_path):
    with pytest.raises(ArchiveError, match="does not exist"):
        build_archive(tmp_path / "nowhere", tmp_path / "out", PASSWORD)
