"""The inner zip's writer: what it writes opens in zipfile, 7-Zip and Info-ZIP, and it deflates
only what shrinks."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from exports import zip_writer
from exports.zip_writer import WHOLE_FILE_BYTES, StreamingZipWriter
from tests.tools import needs_7z

DATE = (2025, 6, 1, 0, 0, 0)
TEXT = b"Blood pressure 120/80, pulse 72. " * 2_000
NOISE = os.urandom(4_000)
LARGE_TEXT = b"Discharge summary: stable, follow up in two weeks.\n" * 60_000  # > 1 MiB
LARGE_NOISE = os.urandom(WHOLE_FILE_BYTES + 300_000)


def zip_of(tmp_path: Path, files: dict[str, tuple[bytes, bool]]) -> Path:
    """A zip of ``name -> (content, compressible)``, plus one directory."""
    out = tmp_path / "out.zip"
    read: list[int] = []
    with open(out, "wb") as sink, StreamingZipWriter(sink, tmp_path, DATE) as writer:
        writer.add_directory("Root/")
        for name, (data, compressible) in files.items():
            assert writer.add_file(
                name, io.BytesIO(data), len(data), compressible=compressible, on_read=read.append
            )
    assert sum(read) == sum(len(data) for data, _ in files.values())
    return out


FILES = {
    "Root/note.txt": (TEXT, True),
    "Root/scan.pdf": (NOISE, True),
    "Root/photo.jpg": (TEXT, False),
    "Root/large.xml": (LARGE_TEXT, True),
    "Root/large-scan.pdf": (LARGE_NOISE, True),
    "Root/Zoë 山田/empty.txt": (b"", True),
}


def test_it_gives_back_every_entry_and_deflates_only_what_shrinks(tmp_path):
    with zipfile.ZipFile(zip_of(tmp_path, FILES)) as archive:
        assert archive.testzip() is None
        infos = {info.filename: info for info in archive.infolist()}
        assert list(infos) == ["Root/", *FILES]
        for name, (data, _) in FILES.items():
            assert archive.read(name) == data
        methods = {name: infos[name].compress_type for name in FILES}
    assert methods == {
        "Root/note.txt": zipfile.ZIP_DEFLATED,
        "Root/scan.pdf": zipfile.ZIP_STORED,  # deflate did not shrink it
        "Root/photo.jpg": zipfile.ZIP_STORED,  # not compressible: not even tried
        "Root/large.xml": zipfile.ZIP_DEFLATED,
        "Root/large-scan.pdf": zipfile.ZIP_STORED,
        "Root/Zoë 山田/empty.txt": zipfile.ZIP_STORED,
    }
    assert infos["Root/"].is_dir()
    assert {info.date_time for info in infos.values()} == {DATE}


@needs_7z
def test_7zip_and_info_zip_test_it_clean(tmp_path):
    archive = zip_of(tmp_path, FILES)
    seven = subprocess.run(["7z", "t", str(archive)], capture_output=True, text=True)
    assert seven.returncode == 0, seven.stdout
    info_zip = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True, text=True)
    assert info_zip.returncode == 0, info_zip.stdout


def test_the_same_entries_give_the_same_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = zip_of(tmp_path / "a", FILES).read_bytes()
    assert zip_of(tmp_path / "b", FILES).read_bytes() == first


@pytest.mark.parametrize("actual", [b"short", b"x" * 20, LARGE_TEXT[:-1], LARGE_TEXT + b"!"])
def test_a_file_whose_size_is_not_the_planned_one_is_reported(tmp_path, actual):
    planned = 10 if len(actual) < 100 else len(LARGE_TEXT)
    with (
        open(tmp_path / "out.zip", "wb") as sink,
        StreamingZipWriter(sink, tmp_path, DATE) as writer,
    ):
        assert not writer.add_file(
            "x.txt", io.BytesIO(actual), planned, compressible=True, on_read=lambda _: None
        )


@needs_7z
def test_entries_near_4_gib_get_zip64_sizes_that_readers_accept(tmp_path, monkeypatch):
    """Writing 4 GiB is too slow for a test: the threshold is lowered to take the same path."""
    monkeypatch.setattr(zip_writer, "_ZIP64_STREAM_THRESHOLD", WHOLE_FILE_BYTES)
    archive = zip_of(tmp_path, FILES)
    with zipfile.ZipFile(archive) as opened:
        assert opened.read("Root/large.xml") == LARGE_TEXT
        assert opened.getinfo("Root/large.xml").extract_version == 45
    assert subprocess.run(["7z", "t", str(archive)], capture_output=True).returncode == 0
    assert subprocess.run(["unzip", "-tq", str(archive)], capture_output=True).returncode == 0


def test_more_than_65535_entries_get_zip64_end_records(tmp_path):
    out = tmp_path / "many.zip"
    with open(out, "wb") as sink, StreamingZipWriter(sink, tmp_path, DATE) as writer:
        for number in range(70_000):
            writer.add_directory(f"d{number}/")
    with zipfile.ZipFile(out) as archive:
        assert len(archive.infolist()) == 70_000


def zip_of_encoded(tmp_path: Path, files: dict[str, tuple[bytes, bool]]) -> Path:
    """The same zip as ``zip_of``, each file encoded first (as a batch does) and then added."""
    out = tmp_path / "encoded.zip"
    with open(out, "wb") as sink, StreamingZipWriter(sink, tmp_path, DATE) as writer:
        writer.add_directory("Root/")
        for name, (data, compressible) in files.items():
            deflated = io.BytesIO()
            encoding = zip_writer.encode(
                io.BytesIO(data), len(data), compressible=compressible, out=deflated
            )
            assert encoding is not None
            entry_data = deflated.getvalue() if encoding.deflated else data
            chunks = range(0, len(entry_data), 50_000)
            assert writer.add_encoded(name, encoding, (entry_data[i : i + 50_000] for i in chunks))
    return out


@pytest.mark.parametrize("zip64", [False, True], ids=["sizes in 32 bits", "zip64 sizes"])
def test_a_file_encoded_ahead_gives_the_same_bytes_as_the_file_added(tmp_path, monkeypatch, zip64):
    if zip64:
        monkeypatch.setattr(zip_writer, "_ZIP64_STREAM_THRESHOLD", WHOLE_FILE_BYTES)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    encoded = zip_of_encoded(tmp_path / "a", FILES).read_bytes()

    assert encoded == zip_of(tmp_path / "b", FILES).read_bytes()


@pytest.mark.parametrize("actual", [b"short", LARGE_TEXT[:-1], LARGE_TEXT + b"!"])
def test_a_file_whose_size_is_not_the_planned_one_is_not_encoded(actual):
    planned = 10 if len(actual) < 100 else len(LARGE_TEXT)
    out = io.BytesIO()
    assert zip_writer.encode(io.BytesIO(actual), planned, compressible=True, out=out) is None
