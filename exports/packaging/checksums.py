"""``SHA256SUMS``: every file of the deliverable and its SHA-256, as ``sha256sum -c`` (GNU
coreutils) and ``shasum -a 256 -c`` (Perl, on every Mac) read it.

One line per file: 64 lowercase hex digits, two spaces (text mode, as both tools write by
default), the file's path relative to the folder holding ``SHA256SUMS``, ``\\n``. The file sits
beside ``manifest.csv``, so files in other folders of the tree are named through ``..``.

GNU's rule for names a line cannot hold as they are: a name with a backslash, a line feed or a
carriage return is written with each of them escaped (``\\\\``, ``\\n``, ``\\r``) and the line
starts with a backslash; both tools undo it (``shasum`` 6.02 all but ``\\r``). The
deliverable's path rules already turn control characters into spaces and backslashes into
``-``, so the rule is there for any name that reaches this file some other way, never to be
relied on. Spaces need nothing.

Written from the manifest's rows (hashed once, when each file was written) and the files
listed after it, streaming: memory does not grow with the number of files.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from .manifest import hash_file
from .tree import replacing

FILE_NAME = "SHA256SUMS"
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r"})


def checksum_line(sha256: str, name: str) -> str:
    """One line of the file, escaped by GNU's rule when the name needs it."""
    escaped = name.translate(_ESCAPES)
    prefix = "\\" if escaped != name else ""
    return f"{prefix}{sha256}  {escaped}\n"


def manifest_digests(manifest: Path) -> Iterator[tuple[str, str]]:
    """``(path, sha256)`` of every row of ``manifest.csv`` (paths from the tree folder)."""
    with manifest.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)  # the header
        for path, _size, sha256 in rows:
            yield path, sha256


def write_checksums(
    tree_dir: Path, manifest: PurePosixPath, also: Iterable[PurePosixPath]
) -> PurePosixPath:
    """Write ``SHA256SUMS`` beside ``manifest`` (a path from ``tree_dir``, as manifest rows name
    files): every file the manifest lists, the manifest itself, and ``also`` (files written
    after it, hashed here). Returns its path from ``tree_dir``."""
    folder = manifest.parent
    out = manifest.with_name(FILE_NAME)

    def digests() -> Iterator[tuple[str, str]]:
        yield from manifest_digests(tree_dir / manifest)
        for path in (manifest, *also):
            yield str(path), hash_file(tree_dir, path)[2]

    with replacing(tree_dir / out) as temp, temp.open("w", encoding="utf-8", newline="") as sums:
        for path, sha256 in digests():
            sums.write(checksum_line(sha256, posixpath.relpath(path, folder)))
    return out
