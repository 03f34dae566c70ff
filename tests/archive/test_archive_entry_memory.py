"""The archive's memory does not grow with the number of files: the inner zip's record of each
entry (needed for its central directory, at the end) waits on disk, not in memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pyzipper

from exports.archive import build_archive

PASSWORD = "entry-memory-test"
ROOT = "Memory Practice_Data_Export_2025-07-01"


def tree_of(tmp_path: Path, patients: int, files_each: int) -> Path:
    root = tmp_path / f"tree-{patients}" / ROOT
    for patient in range(patients):
        folder = root / "Clinical Data Export" / "Patient Records" / f"{patient}_C{patient}_Doe_J"
        folder.mkdir(parents=True)
        for number in range(files_each):
            (folder / f"{number}.txt").write_bytes(b"note")
    return root


def archived_peak(root: Path, out: Path) -> tuple[int, Path]:
    tracemalloc.start()
    try:
        (part,) = build_archive(root, out, PASSWORD)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, part.path


def test_peak_memory_does_not_grow_with_the_number_of_entries(tmp_path):
    small_peak, _ = archived_peak(tree_of(tmp_path, 50, 20), tmp_path / "small")
    large_peak, large_archive = archived_peak(tree_of(tmp_path, 400, 20), tmp_path / "large")

    # Kept in memory, 7,000 more entries would take ~4 MB (a ZipInfo and its name each).
    assert large_peak - small_peak < 1 << 20
    with pyzipper.AESZipFile(large_archive) as outer:
        outer.setpassword(PASSWORD.encode())
        inner_bytes = outer.read(outer.namelist()[0])
    inner = zipfile.ZipFile(io.BytesIO(inner_bytes))
    names = inner.namelist()
    assert len([name for name in names if name.endswith(".txt")]) == 400 * 20
    assert inner.testzip() is None
    assert not list(tmp_path.joinpath("large").glob(".*"))  # no spool left beside the archive
