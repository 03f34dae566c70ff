"""``manifest.csv``: path, bytes and SHA-256 of every file of the deliverable, sorted by path.

Batches record each file as they write it (hashed on the way) and sort their own lines; the
package step merges the batches' sorted lines (a k-way merge, a bounded number of files open at
once), adds the files it writes itself (hashed by reading them back), and checks on the way
that every listed file is on disk with the listed size and listed once. The manifest does not
list itself (a file cannot hold its own hash).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from exports.deliverable_schema import MANIFEST

from .errors import PackagingError
from .spool import ManifestRow, read_manifest
from .tree import replacing

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
) -> Iterator[ManifestRow]:
    """The rows of ``sorted_files`` (each sorted by path) and ``extra``, in one path order.

    More than ``MERGE_FAN_IN`` files are first merged in groups into files under ``work_dir``.
    """
    files = list(sorted_files)
    while len(files) > MERGE_FAN_IN:
        groups = [
            files[start : start + MERGE_FAN_IN] for start in range(0, len(files), MERGE_FAN_IN)
        ]
        files = [_merge_to_file(group, work_dir) for group in groups]
    yield from heapq.merge(
        *(read_manifest(path) for path in files), sorted(extra), key=lambda row: row[0]
    )


def write_manifest(out: Path, rows: Iterable[ManifestRow], tree_dir: Path) -> tuple[int, int]:
    """Write ``rows`` (sorted by path) to ``out``, checking each file; return (files, bytes)."""
    files = total = 0
    previous = None
    with replacing(out) as temp, temp.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(MANIFEST.headers)
        for path, size, sha256 in rows:
            if path == previous:
                raise PackagingError("a file is listed twice: two batches wrote the same patient")
            previous = path
            on_disk = tree_dir / path
            if not on_disk.is_file() or on_disk.stat().st_size != size:
                raise PackagingError(
                    "a file a batch wrote is missing or changed: re-run the batches"
                )
            writer.writerow((path, size, sha256))
            files += 1
            total += size
    return files, total


def _merge_to_file(group: Sequence[Path], work_dir: Path) -> Path:
    merged = work_dir / f"manifest-merge-{uuid.uuid4().hex}.csv"
    with merged.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(
            heapq.merge(*(read_manifest(path) for path in group), key=lambda row: row[0])
        )
    return merged
