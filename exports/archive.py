"""The encrypted archive: the finished deliverable tree packed into AES-256 zip files.

What the customer receives
--------------------------
One file, ``<Root>.zip``, or for large exports several, ``<Root>.part1-of-3.zip`` ...
(``<Root>`` is ``<Practice>_Data_Export_<YYYY-MM-DD>``). Each file is a zip encrypted with
WinZip AES-256 holding exactly one entry, an ordinary (unencrypted) zip of the deliverable
tree named ``<Root>.contents.zip`` (``<Root>.part1-of-3.contents.zip`` ...). To open it:

1. Open ``<Root>.zip`` with 7-Zip (Windows), Keka or The Unarchiver (macOS), ``7z x``
   (Linux), or any other AES-capable zip tool, and give the archive password.
2. Open the ``...contents.zip`` it contains with any zip tool (Windows Explorer and macOS
   Finder will do); there is no second password. It holds the folder ``<Root>/``.
3. With several parts, do this for every part into the same folder: each part holds whole
   patients, and together they make the one ``<Root>/`` tree. Part 1 also holds the
   practice-wide files: the workbook, the manifest, the reconciliation and the image index.

Why a zip inside a zip
----------------------
Zip encryption protects file contents, never entry names, and entry names here are PHI
(patient folders and C-CDA files are named after patients and their dates of birth). So the
tree goes into an inner zip and that zip is the only, encrypted, entry of the outer one:
without the password a listing shows nothing but the outer entry's name. That name is the
file's own name plus ``.contents``: the practice's name and the export date, no patient data,
nothing the file name on disk does not already say. A neutral ``export.zip`` would hide
nothing more and would collide when several parts are extracted into one folder. Why not one
7z with encrypted names instead: docs/archive-opening.md.

How it is written
-----------------
- Through documented interfaces only: the outer zip by pyzipper's public writer (``AESZipFile``
  opened for writing with ``WZ_AES``, 256-bit keys), the inner zip by
  ``exports.zip_writer.StreamingZipWriter`` (the zip format's specification, ``zlib`` and
  ``struct``), because ``zipfile`` keeps a record of every entry in memory until it ends.
- Streamed: the inner zip is written straight into the outer encrypted entry (pyzipper
  encrypts an entry opened for writing chunk by chunk) and the outer zip is written to disk
  without seeking back, hashed (SHA-256 for the manifest of parts, SHA-1 for Box) as it goes.
  Memory holds a few 1 MiB buffers, the names of the patient folders (to plan the parts) and a
  16 KiB block of each batch's member index (below), never a file's contents beyond 1 MiB. The
  inner zip's record of each entry (its central directory, written at the end, needs them all)
  is spooled to an unnamed temporary file beside the archive, not kept in memory: a large
  practice has hundreds of thousands of entries.
- Deflated ahead, by the batches: each batch encodes the files it writes for the inner zip in
  its own process, as it writes them (``exports.packaging.members``: the deflated bytes or the
  decision to store, CRC-32 and sizes, exactly what ``StreamingZipWriter`` makes of the file),
  so the deflating runs on every core while the batches run. The archive step walks the tree
  as always and, for each file in turn, copies its batch's member where the file still has the
  recorded size and CRC-32 and the member's bytes are intact; it deflates only the package
  step's own files (workbook, manifest, readme, ...) and whatever the members lack or get
  wrong. The inner zip is the same, byte for byte, either way.
- Zip64 wherever needed: the outer entry always (its size is unknown when its header is
  written), inner entries that may pass 4 GiB, and the inner directory when it passes
  4 GiB or 65,535 entries.
- What shrinks is deflated: text, XML, CSV and PDFs (a PDF's fonts and text streams deflate;
  a file that deflate does not shrink, like a scanned PDF, is stored). Formats that are
  compressed already (JPEG, PNG, GIF, TIFF, ZIP, Office files, ...) are stored without trying.
  The outer entry is stored: its content is the compressed inner zip.
- Deterministic: entries in sorted order (directory by directory, names in code point order),
  every entry dated the export date taken from the root's name (1980-01-01 when the name
  carries none), fixed permissions. (The outer entry carries pyzipper's default date,
  1980-01-01: its public writer takes an entry's name, not a dated record.) Two runs over the
  same tree write the same inner zip bytes; the outer files differ only by the random AES salt.
- Every directory of the tree gets an entry, so empty folders survive the round trip.

Parts
-----
When the archive would exceed ``part_bytes`` (default 4 GiB, the portal's
``EXPORT_ARCHIVE_PART_BYTES``), patients are spread over parts in sorted order. A patient is
their folder under ``Clinical Data Export/Patient Records``, their C-CDA file under
``Clinical Data Export/CCDA Files`` and their folder under ``Patient Images Export``; these
always land in the same part. Part 1 also carries every file that belongs to no single patient
(workbook, manifest, reconciliation, image index). Sizes are planned from upper bounds of what
each file can become in the zip, so no part file exceeds ``part_bytes``, except that a patient
(or the practice-wide files) larger than ``part_bytes`` on their own gets a part of their own.
Every part also holds the tree's directory skeleton (the folders that belong to no patient).

Errors name parts, entry numbers and areas of the tree, never a path: paths are PHI.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Final

import pyzipper

from exports.packaging.layout import (
    CCDA_AS_RECEIVED,
    CCDA_FILES,
    CLINICAL_DATA_EXPORT,
    PATIENT_IMAGES_EXPORT,
    PATIENT_RECORDS,
)
from exports.packaging.members import BatchMembers, Member
from exports.zip_entries import is_stored
from exports.zip_writer import CHUNK_BYTES, StreamingZipWriter

DEFAULT_PART_BYTES: Final = 4 * 1024**3

ProgressCallback = Callable[[int, int], None]

_CHUNK: Final = 1 << 20
# where patients live in the tree: folders named after them in these two folders ...
_PATIENT_FOLDER_PARENTS: Final = (
    (CLINICAL_DATA_EXPORT, PATIENT_RECORDS),
    (PATIENT_IMAGES_EXPORT,),
)
# ... and their C-CDA file in this one (with the source's own, kept as received, in its subfolder)
_CCDA_FOLDERS: Final = (
    (CLINICAL_DATA_EXPORT, CCDA_FILES),
    (CLINICAL_DATA_EXPORT, CCDA_FILES, CCDA_AS_RECEIVED),
)
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
_MAX_FILE_STEM_BYTES: Final = 200  # leaves room for ".part12-of-12.contents.zip" within 255
# Upper bounds of zip bookkeeping: an entry's local header + zip64 extra + data descriptor +
# central directory record + zip64 extra, without its name (counted twice on top of these).
_ENTRY_OVERHEAD: Final = 30 + 20 + 24 + 46 + 28
# The outer zip around the inner one: headers, AES and zip64 extras, salt, password verifier,
# MAC, data descriptor, central directory and end records, plus the inner end records.
_ARCHIVE_OVERHEAD: Final = 4096


class ArchiveError(Exception):
    """The tree cannot be archived as it is. Messages never carry PHI (no paths). ``errno`` is
    the operating system's error number when a file operation failed (ENOSPC: the disk is full)."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(frozen=True, slots=True)
class ArchivePart:
    """One encrypted archive file, ready for delivery."""

    path: Path
    bytes: int
    sha256: str  # hex
    sha1: str  # hex; Box verifies uploads with it
    patient_folders: int  # patients whose files are in this part
    number: int  # 1-based
    of: int  # how many parts the archive has


@dataclass(frozen=True, slots=True)
class _Entry:
    """A file or directory of the tree, addressed by its path inside the zip."""

    arcname: str  # "<Root>/Clinical Data Export/..."; directories end with "/"
    path: str
    size: int  # 0 for directories
    patient: str | None  # the patient this belongs to, None for practice-wide files and folders

    @property
    def is_dir(self) -> bool:
        return self.arcname.endswith("/")


@dataclass(slots=True)
class _PartPlan:
    patients: set[str] = field(default_factory=set)
    has_practice_files: bool = False
    estimated_bytes: int = 0


@dataclass(slots=True)
class _Tally:
    """Files and bytes of file content: planned, then counted again as they are archived."""

    files: int = 0
    bytes: int = 0


class _Progress:
    def __init__(self, callback: ProgressCallback | None, bytes_total: int) -> None:
        self._callback = callback
        self._bytes_total = bytes_total
        self.done = _Tally()

    def file_done(self) -> None:
        self.done.files += 1

    def read(self, byte_count: int) -> None:
        self.done.bytes += byte_count
        if self._callback is not None:
            self._callback(self.done.bytes, self._bytes_total)


def build_archive(
    tree_root: Path,
    out_dir: Path,
    password: str,
    *,
    part_bytes: int = DEFAULT_PART_BYTES,
    progress: ProgressCallback | None = None,
    members: BatchMembers | None = None,
) -> list[ArchivePart]:
    """Pack the deliverable tree ``tree_root`` (the ``<Root>`` folder itself) into encrypted
    zip files in ``out_dir``, split into parts of at most ``part_bytes`` along patients.

    ``progress(bytes_done, bytes_total)`` is called as file contents are read (often: make it
    cheap or throttle it). ``members``: the batches' precomputed zip members, copied for the
    files they match instead of deflating those again (the same bytes either way).

    Parts get their final names only once all of them are complete and every file of the tree
    is in one of them; archive files an earlier run left in ``out_dir`` for the same root are
    then removed, so a re-run cleanly replaces a crashed one.
    """
    if not password or not password.isascii() or not password.isprintable():
        raise ValueError("the archive password must be non-empty printable ASCII")
    if part_bytes <= 0:
        raise ValueError("part_bytes must be positive")
    if not tree_root.is_dir():
        raise ArchiveError("the deliverable tree does not exist or is not a directory")
    if out_dir.resolve().is_relative_to(tree_root.resolve()):
        raise ValueError("the archive cannot be written inside the tree it archives")

    with _errors_without_paths():
        if members is None:
            members = BatchMembers(())
        return _build_archive(tree_root, out_dir, password, part_bytes, progress, members)


def _build_archive(
    tree_root: Path,
    out_dir: Path,
    password: str,
    part_bytes: int,
    progress: ProgressCallback | None,
    members: BatchMembers,
) -> list[ArchivePart]:
    plans, planned = _plan_parts(tree_root, part_bytes)
    file_stem = _truncate_utf8(tree_root.name, _MAX_FILE_STEM_BYTES)
    date_time = _export_date_time(tree_root.name)
    counter = _Progress(progress, planned.bytes)
    out_dir.mkdir(parents=True, exist_ok=True)

    parts: list[ArchivePart] = []
    temp_paths: list[Path] = []
    try:
        for number, plan in enumerate(plans, start=1):
            stem = file_stem if len(plans) == 1 else f"{file_stem}.part{number}-of-{len(plans)}"
            temp_path = out_dir / f".{stem}.zip.partial"
            temp_paths.append(temp_path)
            with open(temp_path, "wb") as file:
                sink = _HashingWriter(file)
                _write_encrypted_zip(
                    sink,
                    out_dir,
                    _walk(
                        tree_root,
                        include_patient=plan.patients.__contains__,
                        include_practice_files=plan.has_practice_files,
                    ),
                    inner_name=f"{stem}.contents.zip",
                    password=password.encode("ascii"),
                    date_time=date_time,
                    part_number=number,
                    progress=counter,
                    members=members,
                )
                file.flush()
                os.fsync(file.fileno())
            parts.append(
                ArchivePart(
                    path=out_dir / f"{stem}.zip",
                    bytes=sink.bytes_written,
                    sha256=sink.sha256.hexdigest(),
                    sha1=sink.sha1.hexdigest(),
                    patient_folders=len(plan.patients),
                    number=number,
                    of=len(plans),
                )
            )
        if counter.done != planned:
            raise ArchiveError(
                f"the tree changed while it was archived: {planned.files} files of "
                f"{planned.bytes} bytes planned, {counter.done.files} files of "
                f"{counter.done.bytes} bytes archived"
            )
        for temp_path, part in zip(temp_paths, parts, strict=True):
            os.replace(temp_path, part.path)
    finally:
        for temp_path in temp_paths:
            temp_path.unlink(missing_ok=True)
    _remove_stale_parts(out_dir, file_stem, keep={part.path for part in parts})
    return parts


@contextmanager
def _errors_without_paths() -> Iterator[None]:
    """Turn an OSError into an ArchiveError: OSError messages name files, and file names are
    PHI. The original is kept out of the traceback for the same reason (tracebacks get logged).
    """
    try:
        yield
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ArchiveError(
            f"reading the tree or writing the archive failed: {reason}", errno=error.errno
        ) from None


def _plan_parts(tree_root: Path, part_bytes: int) -> tuple[list[_PartPlan], _Tally]:
    """Assign patients to parts in sorted order; returns the plans and the tree's files."""
    patient_bytes: dict[str, int] = {}
    practice_bytes = skeleton_bytes = 0
    planned = _Tally()
    for entry in _walk(tree_root, include_patient=_everyone, include_practice_files=True):
        if not entry.is_dir:
            planned.files += 1
            planned.bytes += entry.size
        cost = _estimated_zip_bytes(entry)
        if entry.patient is not None:
            patient_bytes[entry.patient] = patient_bytes.get(entry.patient, 0) + cost
        elif entry.is_dir:
            skeleton_bytes += cost
        else:
            practice_bytes += cost

    base = _ARCHIVE_OVERHEAD + skeleton_bytes
    plans = [_PartPlan(has_practice_files=True, estimated_bytes=base + practice_bytes)]
    for patient in sorted(patient_bytes):
        cost = patient_bytes[patient]
        current = plans[-1]
        part_is_empty = not current.patients and not current.has_practice_files
        if not part_is_empty and current.estimated_bytes + cost > part_bytes:
            current = _PartPlan(estimated_bytes=base)
            plans.append(current)
        current.patients.add(patient)
        current.estimated_bytes += cost
    return plans, planned


def _everyone(_patient: str) -> bool:
    return True


def _estimated_zip_bytes(entry: _Entry) -> int:
    """An upper bound of the bytes ``entry`` takes in the inner zip."""
    name_bytes = 2 * len(entry.arcname.encode("utf-8"))
    if entry.is_dir or is_stored(entry.arcname):
        return _ENTRY_OVERHEAD + name_bytes + entry.size
    n = entry.size  # zlib's deflateBound(): what deflate can make of incompressible input
    return _ENTRY_OVERHEAD + name_bytes + n + (n >> 12) + (n >> 14) + (n >> 25) + 13


def _walk(
    tree_root: Path,
    *,
    include_patient: Callable[[str], bool],
    include_practice_files: bool,
) -> Iterator[_Entry]:
    """The tree's entries in sorted order (``zip_entries.archive_order``), skipping patients
    not included (without reading their folders) and, unless included, the files that belong
    to no patient. Directories that belong to no patient are always yielded."""
    root_name = tree_root.name
    yield _Entry(f"{root_name}/", str(tree_root), 0, None)
    yield from _walk_directory(
        str(tree_root),
        (),
        f"{root_name}/",
        None,
        include_patient,
        include_practice_files,
    )


def _walk_directory(
    directory: str,
    rel_parts: tuple[str, ...],
    arc_prefix: str,
    patient: str | None,
    include_patient: Callable[[str], bool],
    include_practice_files: bool,
) -> Iterator[_Entry]:
    with os.scandir(directory) as scan:
        children = sorted(scan, key=lambda child: child.name)
    # the top-level folders are the deliverable's own; anything deeper may name a patient
    area = f"'{rel_parts[0]}'" if rel_parts else "the tree's top level"
    for child in children:
        if child.is_symlink() or not (child.is_dir() or child.is_file()):
            raise ArchiveError(f"something under {area} is a link or a special file")
        is_dir = child.is_dir()
        owner = patient if patient is not None else _patient_of(rel_parts, child.name, is_dir)
        if owner is not None and not include_patient(owner):
            continue
        if is_dir:
            arcname = f"{arc_prefix}{child.name}/"
            yield _Entry(arcname, child.path, 0, owner)
            yield from _walk_directory(
                child.path,
                (*rel_parts, child.name),
                arcname,
                owner,
                include_patient,
                include_practice_files,
            )
        elif owner is not None or include_practice_files:
            size = child.stat(follow_symlinks=False).st_size
            yield _Entry(f"{arc_prefix}{child.name}", child.path, size, owner)


def _patient_of(parent_parts: tuple[str, ...], name: str, is_dir: bool) -> str | None:
    """The patient a top-level item of a patient area belongs to, None if it is no patient's."""
    if is_dir and parent_parts in _PATIENT_FOLDER_PARENTS:
        return name
    if not is_dir and parent_parts in _CCDA_FOLDERS and name.endswith(".xml"):
        return name.removesuffix(".xml")
    return None


def _write_encrypted_zip(
    sink: BinaryIO,
    spool_dir: Path,
    entries: Iterator[_Entry],
    *,
    inner_name: str,
    password: bytes,
    date_time: tuple[int, int, int, int, int, int],
    part_number: int,
    progress: _Progress,
    members: BatchMembers,
) -> None:
    """Write to ``sink`` the outer AES zip whose one entry is the inner zip of ``entries``
    (its entries' records spooled in ``spool_dir`` until the end)."""
    finder = members.finder()
    with pyzipper.AESZipFile(
        sink,
        "w",
        compression=pyzipper.ZIP_STORED,  # the inner zip is compressed already
        encryption=pyzipper.WZ_AES,
        encryption_kwargs={"nbits": 256},
    ) as outer:
        outer.setpassword(password)
        with (
            outer.open(inner_name, "w", force_zip64=True) as encrypted,
            # coalesces the inner zip's many small header writes into few encrypt calls
            io.BufferedWriter(encrypted, _CHUNK) as buffered,
            StreamingZipWriter(buffered, spool_dir, date_time) as inner,
        ):
            for index, entry in enumerate(entries, start=1):
                if entry.is_dir:
                    inner.add_directory(entry.arcname)
                    continue
                member = finder.find(entry.arcname)
                complete = None
                if member is not None:
                    complete = _add_member(inner, entry, member, members, progress)
                if complete is None:
                    with open(entry.path, "rb", buffering=0) as source:
                        complete = inner.add_file(
                            entry.arcname,
                            source,
                            entry.size,
                            compressible=not is_stored(entry.arcname),
                            on_read=progress.read,
                        )
                if not complete:
                    raise ArchiveError(
                        f"part {part_number}, entry {index}: the file changed size while it "
                        "was archived"
                    )
                progress.file_done()


def _add_member(
    inner: StreamingZipWriter,
    entry: _Entry,
    member: Member,
    members: BatchMembers,
    progress: _Progress,
) -> bool | None:
    """Write ``entry`` from its batch's member; None, and nothing written, unless the tree's
    file is the one the batch encoded (size and CRC-32) and the member's bytes are intact."""
    encoding = member.encoding
    if encoding.size != entry.size:
        return None
    crc = size = 0
    content: list[bytes] = []  # a small stored member's data: the file itself
    with open(entry.path, "rb", buffering=0) as source:
        while chunk := source.read(CHUNK_BYTES):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            if size <= CHUNK_BYTES:
                content.append(chunk)
    if size != encoding.size or crc != encoding.crc:
        return None
    if encoding.deflated:
        data = members.checked_data(member)
        if data is None:
            return None
    elif size <= CHUNK_BYTES:
        data = content
    else:
        data = _file_chunks(entry.path)
    progress.read(size)
    return inner.add_encoded(entry.arcname, encoding, data)


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


class _HashingWriter(io.RawIOBase):
    """A write-only, non-seekable file that hashes what it writes.

    Non-seekable on purpose: the zip writer then never goes back to patch a header, so the
    hashes computed on the way are the hashes of the finished file.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._file.write(data)
        self.sha256.update(data)
        self.sha1.update(data)
        self.bytes_written += len(data)
        return len(data)


def _export_date_time(root_name: str) -> tuple[int, int, int, int, int, int]:
    match = re.search(r"_(\d{4}-\d{2}-\d{2})$", root_name)
    try:
        export_date = date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        export_date = None
    if export_date is None or export_date.year < 1980:
        return _ZIP_EPOCH
    return (export_date.year, export_date.month, export_date.day, 0, 0, 0)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _remove_stale_parts(out_dir: Path, file_stem: str, keep: set[Path]) -> None:
    """Delete archive files an earlier run left for the same root (a different split, or the
    temporary files of a killed run)."""
    pattern = re.compile(r"\.?" + re.escape(file_stem) + r"(\.part\d+-of-\d+)?\.zip(\.partial)?")
    for candidate in out_dir.iterdir():
        if pattern.fullmatch(candidate.name) and candidate not in keep:
            candidate.unlink()
