"""The batches encode their files for the archive as they write them, and the archive step copies
those members instead of deflating the files again: the inner zip is byte for byte the one it
would deflate itself, and whatever a batch's members lack or get wrong is deflated as before."""

from __future__ import annotations

import io
import os
import shutil
import tracemalloc
import zipfile
import zlib
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

import pytest
import pyzipper

from exports import stages, zip_writer
from exports.archive import ArchivePart, build_archive
from exports.packaging import ExportLayout, extract_batch
from exports.packaging import members as members_module
from exports.packaging.members import BatchMembers, MemberWriter
from exports.packaging.package import PackageResult
from exports.packaging.spool import CommittedBatch
from exports.packaging.tree import WrittenFile
from exports.sources.demo import DemoSource
from exports.sources.records import Document
from exports.zip_entries import is_stored
from tests.packaging.export_builders import (
    BytesBlob,
    GeneratedBlob,
    ListSource,
    batch_manifest_rows,
    build_ccd,
    full_patient,
    package_source,
    validate_ccd,
    validate_source_ccd,
)

PASSWORD = "archive-members-test"
LAYOUT = ExportLayout(practice_name="Members Practice", export_date=date(2025, 7, 1))
BATCHES = [["1001", "1002"], ["1003", "1004"], ["1005", "1006"]]
NOTE = b"%PDF-1.7\nBlood pressure 128/82, pulse 70, follow up in three months.\n" * 40


def practice() -> ListSource:
    """Six patients in three batches, with text that deflates, files that do not, and two
    documents past the writer's whole-file limit (one deflates, one is a scan)."""
    records = []
    for number, patient_id in enumerate(id for batch in BATCHES for id in batch):
        record = full_patient(patient_id, last_name=f"Smith{number}", chart_id=f"C{patient_id}")
        note = BytesBlob(NOTE + patient_id.encode(), chunk_size=4096)
        record.clinical_notes[0] = replace(record.clinical_notes[0], pdf=note)
        records.append(record)
    records[0].documents.append(
        Document(id="1001-big", date=date(2024, 1, 2), description="Chart", file=GeneratedBlob(2))
    )
    scan = b"%PDF-1.4\n" + os.urandom(zip_writer.WHOLE_FILE_BYTES + 200_000)
    records[3].documents.append(
        Document(id="1004-scan", date=date(2024, 1, 3), description="Scan", file=BytesBlob(scan))
    )
    return ListSource(records)


def export(staging: Path) -> PackageResult:
    source = practice()
    for number, patient_ids in enumerate(BATCHES, start=1):
        extract_batch(
            source,
            patient_ids,
            staging,
            number,
            layout=LAYOUT,
            ccda_builder=build_ccd,
            ccda_validator=validate_ccd,
            source_ccda_validator=validate_source_ccd,
        )
    return package_source(source, staging, range(1, len(BATCHES) + 1), layout=LAYOUT)


def inner_zips(parts: list[ArchivePart]) -> list[bytes]:
    contents = []
    for part in parts:
        with pyzipper.AESZipFile(part.path) as outer:
            outer.setpassword(PASSWORD.encode())
            (name,) = outer.namelist()
            contents.append(outer.read(name))
    return contents


def with_members(packaged: PackageResult, out: Path, part_bytes: int = 1 << 30) -> list[bytes]:
    """The archive as the export makes it: from the batches' members."""
    parts = stages.run_archive(packaged, out, PASSWORD, part_bytes=part_bytes)
    return inner_zips(parts)


def from_members(packaged: PackageResult, out: Path) -> list[bytes]:
    """As ``run_archive`` makes it, without the tests' check that the tree matches its
    SHA256SUMS first (the damage below breaks it on purpose)."""
    with BatchMembers(packaged.members_dirs) as members:
        return inner_zips(build_archive(packaged.root, out, PASSWORD, members=members))


def deflating_every_file(root: Path, out: Path, part_bytes: int = 1 << 30) -> list[bytes]:
    """The archive as it was made before batches made members."""
    return inner_zips(build_archive(root, out, PASSWORD, part_bytes=part_bytes))


def batch_files(staging: Path) -> set[str]:
    return {
        path
        for number in range(1, len(BATCHES) + 1)
        for path, _size, _sha in batch_manifest_rows(CommittedBatch(staging, number).manifest_path)
    }


def members_dir(staging: Path, batch_no: int) -> Path:
    return CommittedBatch(staging, batch_no).members_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, PackageResult]:
    staging = tmp_path_factory.mktemp("members-export")
    return staging, export(staging)


@pytest.fixture
def staging_copy(exported, tmp_path) -> tuple[Path, PackageResult]:
    """A copy of the exported staging folder, free to damage."""
    staging, packaged = exported
    copy = tmp_path / "staging"
    shutil.copytree(staging, copy)
    moved = [copy / path.relative_to(staging) for path in packaged.members_dirs]
    root = copy / packaged.root.relative_to(staging)
    return copy, PackageResult(
        root,
        packaged.reconciliation,
        packaged.files,
        packaged.bytes,
        packaged.manifest,
        packaged.manifest_sha256,
        tuple(moved),
    )


@pytest.mark.parametrize("part_bytes", [1 << 30, 60_000], ids=["one part", "several parts"])
def test_the_inner_zip_from_the_members_is_byte_identical_to_deflating_every_file(
    exported, tmp_path, part_bytes
):
    _staging, packaged = exported

    copied = with_members(packaged, tmp_path / "members", part_bytes)
    deflated = deflating_every_file(packaged.root, tmp_path / "deflated", part_bytes)

    assert copied == deflated
    assert (len(copied) > 1) == (part_bytes < 1 << 20)
    with zipfile.ZipFile(io.BytesIO(copied[0])) as inner:
        assert inner.testzip() is None


def test_the_archive_step_deflates_only_the_files_no_batch_wrote(exported, tmp_path, monkeypatch):
    staging, packaged = exported
    deflates = 0
    compressobj = zlib.compressobj

    def counted(*args: int) -> object:
        nonlocal deflates
        deflates += 1
        return compressobj(*args)

    monkeypatch.setattr(zlib, "compressobj", counted)
    with_members(packaged, tmp_path / "out")

    tree = packaged.root.parent
    written_by_batches = batch_files(staging)
    package_files = [
        path.relative_to(tree).as_posix()
        for path in packaged.root.rglob("*")
        if path.is_file() and path.relative_to(tree).as_posix() not in written_by_batches
    ]
    assert len(written_by_batches) > 50
    assert deflates == len([path for path in package_files if not is_stored(path)]) > 0


def test_what_the_archive_writes_for_a_batch_file_is_the_batch_member(tmp_path, monkeypatch):
    """Members encoded at another deflate level than the archive's show up as such."""
    monkeypatch.setattr(zip_writer, "DEFLATE_LEVEL", 1)
    packaged = export(tmp_path / "staging")
    monkeypatch.undo()

    (copied,) = with_members(packaged, tmp_path / "members")
    (deflated,) = deflating_every_file(packaged.root, tmp_path / "deflated")

    assert copied != deflated
    tree = packaged.root.parent
    note = next(packaged.root.rglob("Signed Clinical Notes/*.pdf")).relative_to(tree)
    with zipfile.ZipFile(io.BytesIO(copied)) as inner:
        assert inner.testzip() is None
        info = inner.getinfo(note.as_posix())
        content = inner.read(info)
        raw = copied[info.header_offset + 30 + len(info.filename) :][: info.compress_size]
    fast = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert content == (tree / note).read_bytes()
    assert raw == fast.compress(content) + fast.flush()


def cut_the_index_short(staging: Path) -> None:
    index = members_dir(staging, 2) / "index"
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def garble_the_index(staging: Path) -> None:
    index = members_dir(staging, 1) / "index"
    index.write_bytes(b"not\ta\tmember\n" + index.read_bytes())


def lose_the_members(staging: Path) -> None:
    shutil.rmtree(members_dir(staging, 3))


def damage_the_data(staging: Path) -> None:
    with (members_dir(staging, 1) / "data").open("r+b") as data:
        for offset in range(0, data.seek(0, os.SEEK_END), 997):
            data.seek(offset)
            data.write(b"\xff")


def notes(root: Path) -> list[Path]:
    found = sorted(root.rglob("Signed Clinical Notes/*.pdf"))
    assert len(found) == 6
    return found


def rewrite_a_file_keeping_its_size(staging: Path) -> None:
    for note in notes(staging):
        note.write_bytes(note.read_bytes().replace(b"pulse 70", b"pulse 71"))


def grow_a_file(staging: Path) -> None:
    for note in notes(staging):
        note.write_bytes(note.read_bytes() + b"addendum: reviewed\n")


@pytest.mark.parametrize(
    "damage",
    [
        lose_the_members,
        cut_the_index_short,
        garble_the_index,
        damage_the_data,
        rewrite_a_file_keeping_its_size,
        grow_a_file,
    ],
)
def test_what_the_members_lack_or_get_wrong_is_deflated_from_the_tree(
    staging_copy, tmp_path, damage
):
    staging, packaged = staging_copy
    damage(staging)

    copied = from_members(packaged, tmp_path / "members")

    assert copied == deflating_every_file(packaged.root, tmp_path / "deflated")
    with zipfile.ZipFile(io.BytesIO(copied[0])) as inner:
        for note in notes(packaged.root):
            name = note.relative_to(packaged.root.parent).as_posix()
            assert inner.read(name) == note.read_bytes()


def test_the_whole_demo_export_archives_to_the_same_inner_zip_as_before(tmp_path):
    """The demo practice with every hard case, in batches of four, its one large document past
    the whole-file limit; in one part and in several."""
    source = DemoSource(patients=12, seed=7, large_document_bytes=zip_writer.WHOLE_FILE_BYTES * 2)
    context = stages.ExportContext(
        "Golden Practice", "golden", "EXP-7", date(2025, 7, 1), datetime(2025, 7, 1, 9, tzinfo=UTC)
    )
    staging = tmp_path / "staging"
    numbers = []
    for number, ids in enumerate(stages.plan_batches(source, 4), start=1):
        stages.run_batch(source, context, ids, staging, number)
        numbers.append(number)
    packaged = stages.run_package(source, context, staging, numbers)

    for part_bytes in (1 << 30, 400_000):
        copied = with_members(packaged, tmp_path / f"members-{part_bytes}", part_bytes)
        deflated = deflating_every_file(packaged.root, tmp_path / f"old-{part_bytes}", part_bytes)
        assert copied == deflated
    assert len(copied) > 1


def members_of_a_synthetic_tree(tmp_path: Path, batches: int, files_each: int) -> list[Path]:
    """``batches`` batches of ``files_each`` small text files each, encoded as batches do."""
    tree = tmp_path / "tree"
    dirs = []
    for batch in range(batches):
        run_dir = tmp_path / "batches" / str(batch)
        run_dir.mkdir(parents=True)
        (tree / "Root" / str(batch)).mkdir(parents=True)
        writer = MemberWriter(run_dir)
        for number in range(files_each):
            path = PurePosixPath(f"Root/{batch}/{number:05d}.txt")
            (tree / path).write_bytes(b"note %d of batch %d\n" % (number, batch) * 20)
            writer.add(tree, WrittenFile(path, (tree / path).stat().st_size, ""))
        writer.seal()
        dirs.append(run_dir / "members")
    return dirs


def peak_reading_members(tmp_path: Path, files_each: int) -> int:
    """The peak memory of finding every member of two batches in the archive's order."""
    with BatchMembers(members_of_a_synthetic_tree(tmp_path, 2, files_each)) as members:
        finder = members.finder()
        tracemalloc.start()
        try:
            for batch in range(2):
                for number in range(files_each):
                    assert finder.find(f"Root/{batch}/{number:05d}.txt")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak


def test_the_archive_step_reads_the_members_a_block_at_a_time_not_whole_indexes(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(members_module, "_INDEX_BLOCK", 4096)  # a few files fill a block
    small = peak_reading_members(tmp_path / "small", 250)
    large = peak_reading_members(tmp_path / "large", 1_500)

    # Held in memory, 2,500 more members would take ~1 MB (a record and its path each).
    assert large - small < 1 << 14
