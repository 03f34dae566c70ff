"""A zip writer for a stream that only goes forward, with flat memory (PKWARE's APPNOTE.TXT
6.3.10, the zip format's specification).

Why not ``zipfile``: it keeps a ``ZipInfo`` (~600 bytes with its name) per entry in memory until
it writes the central directory at the end, 150 MB for a part of 250,000 entries, and offers no
public way to keep them elsewhere. This writer appends each entry's central directory record to
an unnamed temporary file as the entry is written and copies that file out at the end.

What it writes (every reader handles it: ``zipfile``, 7-Zip, Info-ZIP, Windows, macOS):

- A file of up to ``WHOLE_FILE_BYTES`` is read whole and either deflated or, when deflate does
  not make it smaller (or the caller says it is compressed already), stored; its header then
  carries its CRC-32 and sizes.
- A larger file is streamed: its first chunk is deflated to see whether deflate gains at least
  ``MIN_GAIN``; if not (a scan, random data) the file is stored. The CRC-32 and sizes follow the
  data in a data descriptor (general purpose flag bit 3), as they are known only then.
- Zip64 where the numbers need it: an entry that may pass 4 GiB, offsets past 4 GiB, more than
  65,535 entries or a central directory past 4 GiB.
- Names in UTF-8 (flag bit 11 when not ASCII); every entry dated ``date_time``, "made by" Unix
  with fixed permissions: the same entries always give the same bytes.

A file can also be encoded ahead of time, in another process (``encode``: its entry data and an
``Encoding``, exactly what ``add_file`` would make of it), and written later by ``add_encoded``:
the same bytes as ``add_file`` of that file, without deflating it again.
"""

from __future__ import annotations

import stat
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

WHOLE_FILE_BYTES: Final = 1 << 20
CHUNK_BYTES: Final = 1 << 20
MIN_GAIN: Final = 0.03  # deflate must save at least 3% of a large file's first chunk
DEFLATE_LEVEL: Final = 6  # zlib's default, as ``zip`` uses

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESCRIPTOR_32 = struct.Struct("<IIII")
_DESCRIPTOR_64 = struct.Struct("<IIQQ")
_END_64 = struct.Struct("<IQHHIIQQQQ")
_END_64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_LOCAL_SIGNATURE = 0x04034B50
_CENTRAL_SIGNATURE = 0x02014B50
_DESCRIPTOR_SIGNATURE = 0x08074B50
_END_64_SIGNATURE = 0x06064B50
_END_64_LOCATOR_SIGNATURE = 0x07064B50
_END_SIGNATURE = 0x06054B50
_ZIP64_EXTRA = 0x0001
_STORED = 0
_DEFLATED = 8
_HAS_DESCRIPTOR = 0x08
_UTF8_NAME = 0x800
_VERSION_DEFAULT = 20  # 2.0: deflate, directories
_VERSION_ZIP64 = 45
_MADE_BY_UNIX = 3 << 8
_MAX_32 = 0xFFFFFFFF
_MAX_16 = 0xFFFF
_FILE_MODE: Final = (stat.S_IFREG | 0o644) << 16
_DIR_MODE: Final = ((stat.S_IFDIR | 0o755) << 16) | 0x10  # 0x10: the MS-DOS directory bit
#: a streamed entry gets zip64 sizes when deflate could take it past 4 GiB (zlib's bound)
_ZIP64_STREAM_THRESHOLD: Final = int(_MAX_32 * 0.99)


@dataclass(frozen=True, slots=True)
class Encoding:
    """How the writer holds a file: deflated or stored, with the CRC-32 and sizes its headers
    carry. A stored file's entry data is the file itself."""

    deflated: bool
    crc: int
    compressed_size: int
    size: int


def encode(source: BinaryIO, size: int, *, compressible: bool, out: BinaryIO) -> Encoding | None:
    """Encode the ``size`` bytes of ``source`` as ``add_file`` would, writing the entry data
    to ``out`` when it is deflated; None when ``source`` holds more or fewer bytes than
    ``size`` (then ``out`` may hold part of the data)."""
    if size <= WHOLE_FILE_BYTES:
        data = source.read(size)
        if len(data) != size or source.read(1):
            return None
        encoding, entry_data = _encode_whole(data, compressible)
        if encoding.deflated:
            out.write(entry_data)
        return encoding
    stream = _EncodedStream(source, size, compressible, _ignore)
    for chunk in stream.chunks():
        if stream.deflated:
            out.write(chunk)
    if not stream.complete:
        return None
    return Encoding(stream.deflated, stream.crc, stream.compressed_size, size)


class StreamingZipWriter:
    """Writes a zip to ``out`` (never seeking), its directory spooled under ``spool_dir``."""

    def __init__(
        self,
        out: BinaryIO,
        spool_dir: Path,
        date_time: tuple[int, int, int, int, int, int],
    ) -> None:
        self._out = out
        self._offset = 0
        self._entries = 0
        year, month, day, hour, minute, second = date_time
        self._dos_date = ((year - 1980) << 9) | (month << 5) | day
        self._dos_time = (hour << 11) | (minute << 5) | (second // 2)
        # Entry names are PHI: the spool is a file no other process can open by name, gone
        # when closed.
        self._central = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115

    def __enter__(self) -> StreamingZipWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._central.close()

    def add_directory(self, name: str) -> None:
        """A directory entry; ``name`` ends with ``/``."""
        self._write_entry(name, b"", 0, 0, _STORED, _DIR_MODE)

    def add_file(
        self,
        name: str,
        source: BinaryIO,
        size: int,
        *,
        compressible: bool,
        on_read: Callable[[int], None],
    ) -> bool:
        """The ``size`` bytes of ``source`` as entry ``name``; False when ``source`` holds
        more or fewer bytes than ``size``. ``compressible=False`` stores without trying deflate.
        ``on_read(byte_count)`` is called as content is read."""
        if size <= WHOLE_FILE_BYTES:
            data = source.read(size)
            on_read(len(data))
            if len(data) != size or source.read(1):
                return False
            encoding, entry_data = _encode_whole(data, compressible)
            self._write_known(name, entry_data, encoding)
            return True
        return self._stream(name, _EncodedStream(source, size, compressible, on_read))

    def add_encoded(self, name: str, encoding: Encoding, entry_data: Iterable[bytes]) -> bool:
        """Entry ``name`` from a file ``encode`` encoded: the same bytes as ``add_file`` of that
        file. ``entry_data`` gives the deflated data, or the file itself when stored; False
        when it holds more or fewer than ``encoding.compressed_size`` bytes (the entry is then
        written all the same and the zip is broken: check the data beforehand)."""
        if encoding.size <= WHOLE_FILE_BYTES:
            data = b"".join(entry_data)
            self._write_known(name, data, encoding)
            return len(data) == encoding.compressed_size
        method = _method(encoding)
        header_offset, written = self._write_streamed(name, method, encoding.size, entry_data)
        self._write_descriptor(name, method, encoding.size, encoding.crc, written, header_offset)
        return written == encoding.compressed_size

    def _write_known(self, name: str, data: bytes, encoding: Encoding) -> None:
        """A file entry whose CRC-32 and sizes are in its local header."""
        self._write_entry(name, data, encoding.crc, encoding.size, _method(encoding), _FILE_MODE)

    def _write_entry(
        self, name: str, data: bytes, crc: int, size: int, method: int, mode: int
    ) -> None:
        encoded, flags = _name(name)
        header_offset = self._offset
        self._write_local(encoded, flags, method, crc, len(data), size)
        self._write(data)
        self._record(encoded, flags, method, crc, len(data), size, header_offset, mode, False)

    def _write_local(
        self,
        encoded: bytes,
        flags: int,
        method: int,
        crc: int,
        compressed: int,
        size: int,
        zip64: bool = False,
    ) -> None:
        """A local file header; with ``zip64``, sizes follow in a zip64 extra field."""
        extra = struct.pack("<HHQQ", _ZIP64_EXTRA, 16, size, compressed) if zip64 else b""
        self._write(
            _LOCAL.pack(
                _LOCAL_SIGNATURE,
                _VERSION_ZIP64 if zip64 else _VERSION_DEFAULT,
                flags,
                method,
                self._dos_time,
                self._dos_date,
                crc,
                _MAX_32 if zip64 else compressed,
                _MAX_32 if zip64 else size,
                len(encoded),
                len(extra),
            )
        )
        self._write(encoded)
        self._write(extra)

    def _stream(self, name: str, stream: _EncodedStream) -> bool:
        method = _DEFLATED if stream.deflated else _STORED
        header_offset, written = self._write_streamed(name, method, stream.size, stream.chunks())
        self._write_descriptor(name, method, stream.size, stream.crc, written, header_offset)
        return stream.complete

    def _write_streamed(
        self, name: str, method: int, size: int, entry_data: Iterable[bytes]
    ) -> tuple[int, int]:
        """A local header without CRC-32 and sizes (not known yet when streaming), then the
        entry data; returns the header's offset and the bytes of data written."""
        encoded, flags = _name(name)
        header_offset = self._offset
        self._write_local(encoded, flags | _HAS_DESCRIPTOR, method, 0, 0, 0, _is_zip64(size))
        written = 0
        for chunk in entry_data:
            written += len(chunk)
            self._write(chunk)
        return header_offset, written

    def _write_descriptor(
        self, name: str, method: int, size: int, crc: int, compressed: int, header_offset: int
    ) -> None:
        """The data descriptor after a streamed entry's data, and the entry's record."""
        encoded, flags = _name(name)
        zip64 = _is_zip64(size)
        descriptor = _DESCRIPTOR_64 if zip64 else _DESCRIPTOR_32
        self._write(descriptor.pack(_DESCRIPTOR_SIGNATURE, crc, compressed, size))
        record_flags = flags | _HAS_DESCRIPTOR
        self._record(
            encoded, record_flags, method, crc, compressed, size, header_offset, _FILE_MODE, zip64
        )

    def _record(
        self,
        encoded: bytes,
        flags: int,
        method: int,
        crc: int,
        compressed: int,
        size: int,
        header_offset: int,
        mode: int,
        zip64: bool,
    ) -> None:
        """The entry's central directory record, spooled; ``zip64``: its local header has
        zip64 sizes."""
        extra_values = [value for value in (size, compressed, header_offset) if value >= _MAX_32]
        extra = b""
        if extra_values:
            extra = struct.pack(
                f"<HH{len(extra_values)}Q", _ZIP64_EXTRA, 8 * len(extra_values), *extra_values
            )
        version = _VERSION_ZIP64 if extra or zip64 else _VERSION_DEFAULT
        self._central.write(
            _CENTRAL.pack(
                _CENTRAL_SIGNATURE,
                _MADE_BY_UNIX | version,
                version,
                flags,
                method,
                self._dos_time,
                self._dos_date,
                crc,
                min(compressed, _MAX_32),
                min(size, _MAX_32),
                len(encoded),
                len(extra),
                0,
                0,
                0,
                mode,
                min(header_offset, _MAX_32),
            )
        )
        self._central.write(encoded)
        self._central.write(extra)
        self._entries += 1

    def _finish(self) -> None:
        """The central directory and the end records."""
        directory_offset = self._offset
        self._central.seek(0)
        while chunk := self._central.read(CHUNK_BYTES):
            self._write(chunk)
        directory_size = self._offset - directory_offset
        if self._entries > _MAX_16 or directory_offset >= _MAX_32 or directory_size >= _MAX_32:
            end_64_offset = self._offset
            self._write(
                _END_64.pack(
                    _END_64_SIGNATURE,
                    _END_64.size - 12,
                    _MADE_BY_UNIX | _VERSION_ZIP64,
                    _VERSION_ZIP64,
                    0,
                    0,
                    self._entries,
                    self._entries,
                    directory_size,
                    directory_offset,
                )
            )
            self._write(_END_64_LOCATOR.pack(_END_64_LOCATOR_SIGNATURE, 0, end_64_offset, 1))
        self._write(
            _END.pack(
                _END_SIGNATURE,
                0,
                0,
                min(self._entries, _MAX_16),
                min(self._entries, _MAX_16),
                min(directory_size, _MAX_32),
                min(directory_offset, _MAX_32),
                0,
            )
        )

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)


def _encode_whole(data: bytes, compressible: bool) -> tuple[Encoding, bytes]:
    """A file read whole: deflated when that makes it smaller, else stored."""
    crc = zlib.crc32(data)
    if compressible:
        compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        deflated = compressor.compress(data) + compressor.flush()
        if len(deflated) < len(data):
            return Encoding(True, crc, len(deflated), len(data)), deflated
    return Encoding(False, crc, len(data), len(data)), data


class _EncodedStream:
    """A large file's entry data, chunk by chunk. Whether it is deflated is known once the
    first chunk is read (deflate must gain ``MIN_GAIN`` on it); the CRC-32 and compressed size
    once ``chunks`` is exhausted, and ``complete`` says whether ``source`` held ``size`` bytes."""

    def __init__(
        self, source: BinaryIO, size: int, compressible: bool, on_read: Callable[[int], None]
    ) -> None:
        self.size = size
        self._source = source
        self._on_read = on_read
        self._first = source.read(min(CHUNK_BYTES, size))
        on_read(len(self._first))
        self._first_out = self._first
        self._compressor = None
        if compressible:
            compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            sample = compressor.compress(self._first)
            if len(sample) + len(compressor.copy().flush()) <= len(self._first) * (1 - MIN_GAIN):
                self._first_out, self._compressor = sample, compressor
        self.deflated = self._compressor is not None
        self.crc = 0
        self.compressed_size = 0
        self.complete = False

    def chunks(self) -> Iterator[bytes]:
        source, compressor = self._source, self._compressor
        remaining = self.size - len(self._first)
        crc = zlib.crc32(self._first)
        written = len(self._first_out)
        yield self._first_out
        while remaining and (chunk := source.read(min(CHUNK_BYTES, remaining))):
            self._on_read(len(chunk))
            remaining -= len(chunk)
            crc = zlib.crc32(chunk, crc)
            out = chunk if compressor is None else compressor.compress(chunk)
            written += len(out)
            yield out
        if compressor is not None:
            tail = compressor.flush()
            written += len(tail)
            yield tail
        self.crc, self.compressed_size = crc, written
        self.complete = remaining == 0 and not source.read(1)


def _method(encoding: Encoding) -> int:
    return _DEFLATED if encoding.deflated else _STORED


def _is_zip64(size: int) -> bool:
    """Whether a streamed entry of ``size`` bytes gets zip64 sizes."""
    return size >= _ZIP64_STREAM_THRESHOLD


def _ignore(_byte_count: int) -> None:
    pass


def _name(name: str) -> tuple[bytes, int]:
    """The name's bytes and the flag bit saying they are UTF-8, when they are not ASCII."""
    if name.isascii():
        return name.encode("ascii"), 0
    return name.encode("utf-8"), _UTF8_NAME
