"""``manifest.csv``: path, bytes and SHA-256 of every file of the deliverable, sorted by path.

Batches record each file as they write it (hashed on the way) and sort their own lines; a
batch's line is already the manifest's line for its file (the same CSV dialect: ``spool``), so
the package step merges the batches' lines as they are (a k-way merge on the path, a bounded
number of files open at once), adds the files it writes itself (hashed by reading them back),
and checks on the way that every listed file is on disk with the listed size and listed once.
The manifest does not list itself (a file cannot hold its own hash).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import os
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from exports.deliverable_schema import MANIFEST

from .errors import PackagingError
from .tree import replacing

#: a file's path, its size and its SHA-256
ManifestRow = tuple[str, int, str]
#: a file's path, its size and its line in the manifest (CSV, CRLF-ended)
ManifestLine = tuple[str, int, str]
_LINE_END = "\r\n"

MERGE_FAN_IN = 64
_READ_SIZE = 1 << 20


def hash_file(tree_dir: Path, path: PurePosixPath) -> ManifestRow:
    """A manifest row for a file already on disk, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with (tree_dir / path).open("rb") as source:
        while chunk := source.read(_READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return str(path), size, digest.hexdigest()


def merged_rows(
    sorted_files: Sequence[Path], extra: Iterable[ManifestRow], work_dir: Path
) -> Iterator[ManifestLine]:
    """The lines of ``sorted_files`` (each sorted by path) and of ``extra``, in one path order.

    More than ``MERGE_FAN_IN`` files are first merged in groups into files under ``work_dir``.
    """
    files = list(sorted_files)
    while len(files) > MERGE_FAN_IN:
        groups = [
            files[start : start + MERGE_FAN_IN] for start in range(0, len(files), MERGE_FAN_IN)
        ]
        files = [_merge_to_file(group, work_dir) for group in groups]
    # Paths are unique (a repeated one is refused by write_manifest), so the tuples compare by
    # path alone: no key function to call for every line.
    yield from heapq.merge(
        *(_read_lines(path) for path in files), sorted(_line_of(row) for row in extra)
    )


def write_manifest(out: Path, lines: Iterable[ManifestLine], tree_dir: Path) -> tuple[int, int]:
    """Write ``lines`` (sorted by path) to ``out``, checking each file; return (files, bytes)."""
    files = total = 0
    previous = None
    tree = str(tree_dir)
    with replacing(out) as temp, temp.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator=_LINE_END).writerow(MANIFEST.headers)
        for path, size, line in lines:
            if path == previous:
                raise PackagingError("a file is listed twice: two batches wrote the same patient")
            previous = path
            try:
                on_disk = os.stat(os.path.join(tree, path))
            except (FileNotFoundError, NotADirectoryError):
                on_disk = None
            if on_disk is None or not stat.S_ISREG(on_disk.st_mode) or on_disk.st_size != size:
                raise PackagingError(
                    "a file a batch wrote is missing or changed: re-run the batches"
                )
            handle.write(line)
            files += 1
            total += size
    return files, total


def write_batch_lines(path: Path, rows: list[ManifestRow]) -> None:
    """A batch's rows, sorted by path, as the manifest's own lines (``merged_rows`` merges them
    as they are). Sorts ``rows`` in place: a batch's own files, bounded by the batch size."""
    rows.sort(key=lambda row: row[0])
    with _open_lines(path, "w") as out:
        csv.writer(out, lineterminator=_LINE_END).writerows(rows)


def _read_lines(path: Path) -> Iterator[ManifestLine]:
    """A batch's sorted manifest file (``write_batch_lines``), line by line as it is."""
    with _open_lines(path, "r") as source:
        for line in source:
            # The size and hash hold no comma; a path that does is quoted.
            path_field, size, _sha256 = line.rsplit(",", 2)
            if path_field.startswith('"'):
                path_field = next(csv.reader([path_field]))[0]
            yield path_field, int(size), line


def _line_of(row: ManifestRow) -> ManifestLine:
    text = io.StringIO()
    csv.writer(text, lineterminator=_LINE_END).writerow(row)
    return row[0], row[1], text.getvalue()


def _merge_to_file(group: Sequence[Path], work_dir: Path) -> Path:
    merged = work_dir / f"manifest-merge-{uuid.uuid4().hex}.csv"
    with _open_lines(merged, "w") as out:
        out.writelines(line for _path, _size, line in heapq.merge(*map(_read_lines, group)))
    return merged


def _open_lines(path: Path, mode: str) -> IO[str]:
    # A lone surrogate in a path (from a source's bad JSON) round-trips through the batch files.
    return path.open(mode, encoding="utf-8", errors="surrogatepass", newline="")
