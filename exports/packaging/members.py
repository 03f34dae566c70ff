"""The inner zip's members, made by the batches: each file a batch writes is encoded for the
archive in the batch's own process (``zip_writer.encode``: deflated, or the decision to store
it, with its CRC-32 and sizes), so the archive step copies those bytes instead of deflating
every file on one core after the last batch.

In a batch run (see ``spool``), visible when the run commits and removed with it::

    members/data    the deflated bytes of the run's files, one after another
    members/index   a line per file, in the archive's order: offset in data, deflated (1/0),
                    CRC-32, compressed size, size, CRC-32 of the deflated bytes, path

Formats compressed already (``zip_entries.is_stored``) get no member: the archive stores them as
they are, and reading them there costs what copying a member would.

The archive step uses a member only when the tree's file has the recorded size and CRC-32 and
the member's bytes their recorded length and CRC-32. It reads both to check: a page-cache read
and a CRC at GB/s, a few percent of deflating. Size alone would not do: a re-run batch or a
file rewritten in place can keep a size and change its bytes, and a torn data file keeps its
length. Whatever fails the check (a run from before members existed, a file changed after its
batch, a damaged index or data file) is deflated by the archive step as before: it costs
time, never a wrong byte. A killed worker's run never commits, so it is never read.

Memory stays flat: a batch sorts its own index (bounded by the batch size); the archive step
merges the indexes a block at a time, in the order it walks the tree, holding one block per
batch and a few open data files, never a whole index.
"""

from __future__ import annotations

import heapq
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Final

from exports.zip_entries import archive_order, is_stored
from exports.zip_writer import CHUNK_BYTES, Encoding, encode

from .tree import WrittenFile

MEMBERS_FOLDER: Final = "members"
_DATA: Final = "data"
_INDEX: Final = "index"
_UNSORTED_INDEX: Final = "index.unsorted"
_INDEX_BLOCK: Final = 16 * 1024  # read per batch at a time by the archive step
_OPEN_DATA_FILES: Final = 16  # the archive step jumps between batches patient by patient


@dataclass(frozen=True, slots=True)
class Member:
    """A file's encoding and where its deflated bytes are."""

    path: str  # from the tree folder: the entry's name in the inner zip
    encoding: Encoding
    data_crc: int  # CRC-32 of the deflated bytes
    data_file: Path
    offset: int


class MemberWriter:
    """Encodes one batch run's files as they are written; ``seal`` sorts the index when the
    run commits."""

    def __init__(self, run_dir: Path) -> None:
        self._dir = run_dir / MEMBERS_FOLDER
        self._dir.mkdir()
        self._data = (self._dir / _DATA).open("wb")
        self._index = _open_index(self._dir / _UNSORTED_INDEX, "w")

    def add(self, tree_dir: Path, written: WrittenFile) -> None:
        """Encode ``written``, read back from the run's tree (still in the page cache)."""
        path = str(written.path)
        if is_stored(path):
            return
        offset = self._data.tell()
        data = _CrcWriter(self._data)
        with open(os.path.join(tree_dir, path), "rb", buffering=0) as source:
            encoding = encode(source, written.size, compressible=True, out=data)
        if encoding is None:  # not the file that was written: the archive step deflates it
            return
        self._index.write(
            f"{offset}\t{int(encoding.deflated)}\t{encoding.crc}\t{encoding.compressed_size}\t"
            f"{encoding.size}\t{data.crc}\t{path}\n"
        )

    def seal(self) -> None:
        """Sort the index into the archive's order (a batch's files only: bounded)."""
        self.close()
        with _open_index(self._dir / _UNSORTED_INDEX, "r") as unsorted:
            lines = sorted(unsorted, key=lambda line: archive_order(_line_path(line)))
        with _open_index(self._dir / _INDEX, "w") as index:
            index.writelines(lines)
        (self._dir / _UNSORTED_INDEX).unlink()

    def close(self) -> None:
        self._data.close()
        self._index.close()


class BatchMembers:
    """The committed runs' members, for the archive step (a context manager: it keeps a few
    data files open)."""

    def __init__(self, members_dirs: Sequence[Path]) -> None:
        self._dirs = list(members_dirs)
        self._open: dict[Path, int] = {}  # data file -> descriptor, oldest first

    def __enter__(self) -> BatchMembers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for descriptor in self._open.values():
            os.close(descriptor)
        self._open.clear()

    def finder(self) -> MemberFinder:
        """Finds members for files asked for in the archive's order (one walk of the tree)."""
        merged = heapq.merge(
            *(_read_index(folder) for folder in self._dirs),
            key=lambda member: archive_order(member.path),
        )
        return MemberFinder(merged)

    def checked_data(self, member: Member) -> Iterable[bytes] | None:
        """The member's deflated bytes, or None when they are not the length and CRC-32 the
        batch recorded. Up to a chunk is read once; more is read to check, then again."""
        size = member.encoding.compressed_size
        if size <= CHUNK_BYTES:
            data = self._read(member, 0, size)
            return [data] if len(data) == size and zlib.crc32(data) == member.data_crc else None
        read = crc = 0
        for chunk in self._chunks(member):
            read += len(chunk)
            crc = zlib.crc32(chunk, crc)
        return self._chunks(member) if read == size and crc == member.data_crc else None

    def _chunks(self, member: Member) -> Iterator[bytes]:
        done = 0
        while done < member.encoding.compressed_size:
            chunk = self._read(
                member, done, min(CHUNK_BYTES, member.encoding.compressed_size - done)
            )
            if not chunk:
                return
            done += len(chunk)
            yield chunk

    def _read(self, member: Member, start: int, size: int) -> bytes:
        descriptor = self._open.pop(member.data_file, None)
        if descriptor is None:
            if len(self._open) >= _OPEN_DATA_FILES:
                os.close(self._open.pop(next(iter(self._open))))
            descriptor = os.open(member.data_file, os.O_RDONLY)
        self._open[member.data_file] = descriptor  # now the newest
        return os.pread(descriptor, size, member.offset + start)


class MemberFinder:
    """The member of each file, asked for in the archive's order."""

    def __init__(self, members: Iterator[Member]) -> None:
        self._members = members
        self._next = next(members, None)

    def find(self, path: str) -> Member | None:
        key = archive_order(path)
        while self._next is not None and archive_order(self._next.path) < key:
            self._next = next(self._members, None)
        if self._next is None or self._next.path != path:
            return None
        found, self._next = self._next, next(self._members, None)
        return found


def _read_index(members_dir: Path) -> Iterator[Member]:
    """A run's index, a block at a time (opened again for each, so that a practice's many
    batches do not hold as many files open). Stops at the first line that does not parse:
    the rest are deflated by the archive step."""
    index, data_file = members_dir / _INDEX, members_dir / _DATA
    position, rest = 0, b""
    while True:
        try:
            with index.open("rb") as source:
                source.seek(position)
                block = source.read(_INDEX_BLOCK)
        except FileNotFoundError:  # a run from before members existed
            return
        if not block:
            return
        position += len(block)
        *lines, rest = (rest + block).split(b"\n")
        for line in lines:
            try:
                offset, deflated, crc, compressed, size, data_crc, path = line.decode(
                    "utf-8", "surrogatepass"
                ).split("\t", 6)
                encoding = Encoding(deflated == "1", int(crc), int(compressed), int(size))
                yield Member(path, encoding, int(data_crc), data_file, int(offset))
            except ValueError:
                return


def _line_path(line: str) -> str:
    return line.rstrip("\n").split("\t", 6)[6]


def _open_index(path: Path, mode: str) -> IO[str]:
    # Paths came through the naming rules: no tab or newline in them.
    return path.open(mode, encoding="utf-8", errors="surrogatepass", newline="\n")


class _CrcWriter:
    """Writes to ``out`` and keeps the CRC-32 of what it wrote."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.crc = 0

    def write(self, data: bytes) -> int:
        self.crc = zlib.crc32(data, self.crc)
        return self._out.write(data)
