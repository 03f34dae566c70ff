"""Writing one patient's files into a batch run's own tree: streamed, hashed, unique.

A batch run writes into a fresh folder of its own (``spool.BatchSpool.tree_dir``) that nothing
reads until the run commits, so each file is streamed straight to its final name, hashed
(SHA-256) and measured on the way: no temporary name and no rename per file, one open, a write
per chunk and one close, and each folder made once per run. A killed worker's
half-written file stays in a run that never commits and is removed with it. Committed runs are
filed into the deliverable's tree by ``publish``, a rename per patient's folder, not one per
file. The package step's own files still go through ``replacing`` (a temporary
name, then a rename); leftover temporary files carry ``TEMP_PREFIX`` and are swept by the
package step.

Content checks, where the name promises a format:

- Images (patient photo, insurance cards) are identified by their signature, then decoded by
  Pillow to prove they open. A JPEG is shipped as ``.jpg``; another real image format keeps its
  true extension (a PNG photo becomes ``patient_photo.png``: re-encoding it as JPEG would lose
  quality, naming it ``.jpg`` would lie). Bytes that are no image that opens (corrupt,
  truncated, empty, an HTML error page) are **not shipped** and the record is reported failed:
  a broken file under an image name would mislead the customer, and the reconciliation puts
  the record in front of the data team instead.
- Signed clinical notes must be PDFs (``%PDF-`` in the first KiB, as readers accept); anything
  else is reported failed and not shipped, for the same reason.
- Other files (documents, attachments, faxes, lab reports) are what the practice uploaded, of
  any type: shipped as they are, with the source's extension.

PDFs are checked by signature only: a PDF reader copes with far more damage than a viewer of
a broken JPEG, and parsing every note would cost more than it finds.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from .naming import with_suffix_number

TEMP_PREFIX = ".export-partial-"
_HEAD_BYTES = 1024
#: a new file, write-only, not inherited by child processes
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
#: the tree's own root, made with it
_TOP = PurePosixPath(".")
#: images are decoded as small as their format allows to prove they open: JPEGs at an eighth
#: of their scale (every byte of the entropy-coded data is still read), so a check stays cheap
_CHECK_DRAFT_SIZE = (1, 1)
#: the image formats Pillow decodes; HEIC (no decoder here) is checked by signature alone
_DECODED_SUFFIXES = frozenset({".jpg", ".png", ".gif", ".tif", ".bmp", ".webp"})
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
    (b"BM", "bmp"),
)


class Expect(enum.Enum):
    """What a file's bytes must be for its name to be true."""

    ANY = "any"
    IMAGE = "image"
    PDF = "pdf"


class UnusableContent(Exception):
    """The bytes are not what the file must be. The message is a reason without PHI."""


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file in the tree: path from the archive root, size and SHA-256 as written."""

    path: PurePosixPath
    size: int
    sha256: str


class PatientTree:
    """Writes one patient's files under ``tree_dir`` (a fresh folder holding a deliverable root
    of the run's own, which nothing reads until the run commits).

    Remembers the names it handed out (case-insensitively, as Windows and macOS compare them)
    and numbers a clash (``front_2.jpg``), so no file of this patient overwrites another.
    Patient folders are disjoint, so per-patient bookkeeping of names is enough.
    """

    def __init__(self, tree_dir: Path, made_folders: set[PurePosixPath] | None = None) -> None:
        """``made_folders``: the folders already made under ``tree_dir``, shared by the
        patients of one run so their common parents are made (and asked for) once."""
        self._tree_dir = tree_dir
        self._root = str(tree_dir)
        self._taken: set[str] = set()
        self._made = made_folders if made_folders is not None else set()
        self._made.add(_TOP)

    def write(
        self,
        path: PurePosixPath,
        chunks: Iterable[bytes],
        expect: Expect = Expect.ANY,
        check: Callable[[Path], None] | None = None,
    ) -> WrittenFile:
        """Stream ``chunks`` to ``path``; for ``Expect.IMAGE`` the extension follows the content.

        Raises ``UnusableContent`` (nothing left written) when the bytes fail ``expect`` or
        ``check`` (which reads the whole file on disk and raises ``UnusableContent`` to refuse
        it); whatever ``chunks`` raises (e.g. ``RecordUnavailable``) propagates, nothing left
        written. The name is known once the head is read (an image's extension follows it).
        """
        self._folder(path.parent)
        digest = hashlib.sha256()
        size = 0
        head = b""
        chunk_iterator = iter(chunks)
        pending: list[bytes] = []
        for chunk in chunk_iterator:
            pending.append(chunk)
            head += chunk[: _HEAD_BYTES - len(head)]
            if len(head) >= _HEAD_BYTES:
                break
        final = self._claim(_checked_path(path, head, expect))
        on_disk = f"{self._root}/{final}"
        try:
            # One open, a write per chunk, one close: no buffer object, no fstat, ioctl or seek.
            # The name is claimed, so it cannot exist yet in this run's tree: O_EXCL says so.
            descriptor = os.open(on_disk, _CREATE_NEW, 0o666)
        except BaseException:
            self._taken.discard(str(final).casefold())
            raise
        try:
            try:
                for chunk in itertools.chain(pending, chunk_iterator):
                    digest.update(chunk)
                    _write_all(descriptor, chunk)
                    size += len(chunk)
            finally:
                os.close(descriptor)
            if expect is Expect.IMAGE and final.suffix in _DECODED_SUFFIXES:
                _check_image_opens(on_disk)
            if check is not None:
                check(Path(on_disk))
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(on_disk)
            self._taken.discard(str(final).casefold())
            raise
        return WrittenFile(final, size, digest.hexdigest())

    def move(self, written: WrittenFile, path: PurePosixPath) -> WrittenFile:
        """Refile a written file under ``path`` (same bytes), freeing its former name."""
        self._folder(path.parent)
        final = self._claim(path)
        os.replace(self._tree_dir / written.path, self._tree_dir / final)
        self._taken.discard(str(written.path).casefold())
        return WrittenFile(final, written.size, written.sha256)

    def _folder(self, folder: PurePosixPath) -> None:
        """Make ``folder`` and whichever of its parents this run has not made yet, each once."""
        missing: list[PurePosixPath] = []
        while folder not in self._made:
            missing.append(folder)
            folder = folder.parent
        for new_folder in reversed(missing):  # parents first
            with suppress(FileExistsError):
                os.mkdir(f"{self._root}/{new_folder}")
            self._made.add(new_folder)

    def _claim(self, path: PurePosixPath) -> PurePosixPath:
        candidate, number = path, 1
        while str(candidate).casefold() in self._taken:
            number += 1
            candidate = path.with_name(with_suffix_number(path.name, number))
        self._taken.add(str(candidate).casefold())
        return candidate


@contextmanager
def temporary_file(folder: Path) -> Iterator[Path]:
    """A fresh temporary name in ``folder``, removed on the way out unless renamed away."""
    temp = folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed onto ``path`` on success."""
    with temporary_file(path.parent) as temp:
        yield temp
        os.replace(temp, path)


def publish(
    run_tree: Path, tree_dir: Path, entries: Sequence[PurePosixPath], cleared: Path
) -> None:
    """File a committed run's patients into the deliverable's tree, a rename per patient's
    folder or C-CDA (``PatientPaths.entries``), replacing what an earlier run of theirs left.

    Idempotent and resumable: first every entry is removed from the tree, then ``cleared`` is
    created, then the run's entries are moved; a publish killed half-way is finished by the
    next one (it clears again only while nothing has been moved).
    """
    if not cleared.exists():
        for entry in entries:
            _remove(f"{tree_dir}/{entry}")
        cleared.touch()
    for entry in entries:
        source, target = f"{run_tree}/{entry}", f"{tree_dir}/{entry}"
        try:
            os.rename(source, target)
        except FileNotFoundError:
            if not os.path.exists(source):  # this patient has none, or it was filed
                continue
            # Its folder is made on first need: no empty folder ships.
            (tree_dir / entry.parent).mkdir(parents=True, exist_ok=True)
            os.rename(source, target)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except IsADirectoryError:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass


def remove_temporary_files(tree_dir: Path) -> int:
    """Delete temporary files killed writers left behind; return how many files remain."""
    remaining = 0
    for folder, _dirs, files in os.walk(tree_dir):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                Path(folder, name).unlink(missing_ok=True)
            else:
                remaining += 1
    return remaining


def _checked_path(path: PurePosixPath, head: bytes, expect: Expect) -> PurePosixPath:
    if expect is Expect.IMAGE:
        extension = image_extension(head)
        if extension is None:
            raise UnusableContent("content is not an image")
        return path.with_suffix(f".{extension}")
    if expect is Expect.PDF and b"%PDF-" not in head:
        raise UnusableContent("content is not a PDF")
    return path


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)
    while written < len(data):  # a short write (a signal, a full disk) carries on or raises
        written += os.write(descriptor, memoryview(data)[written:])


def _check_image_opens(path: str) -> None:
    """Decode the image (reduced, where the format allows); raise ``UnusableContent`` if not."""
    try:
        with Image.open(path) as image:
            image.draft(image.mode, _CHECK_DRAFT_SIZE)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Pillow's messages name no patient data, but the reason stays generic all the same.
        raise UnusableContent("content is a damaged image that does not open") from exc


def image_extension(head: bytes) -> str | None:
    """The extension of the image format whose signature starts ``head``, if any."""
    for signature, extension in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "heic"
    return None
