"""A batch's share of the package files, spooled to disk as it is produced.

Layout under the staging folder::

    batches/<n>/runs/<run>/tree/                the patients' files, under the deliverable root
    batches/<n>/runs/<run>/rows/<sheet>.jsonl   workbook rows, one JSON list a line
    batches/<n>/runs/<run>/rendered/            the same rows as SpreadsheetML (``rendered_rows``)
    batches/<n>/runs/<run>/image_index.csv      image-index rows as the index holds them
    batches/<n>/runs/<run>/manifest.csv         path, bytes, SHA-256, sorted by path: the
                                                manifest's own lines (CSV, CRLF: ``manifest``)
    batches/<n>/runs/<run>/tally.json           the reconciliation counts
    batches/<n>/runs/<run>/entries.json         the patients' folders and files it replaces
    batches/<n>/runs/<run>/members/             the files' zip members, for the archive (members)
    batches/<n>/runs/<run>/cleared              made once their old entries left the tree
    batches/<n>/committed.json                  {"run": "<run>"}: the run that counts
    batches/<n>/live/<run>                      locked while the run's process works on it

Every run writes into a fresh ``<run>`` folder; ``commit`` then replaces ``committed.json``
atomically (the one rename that makes the whole run visible) and removes the other runs but
those a process still works on (a stale worker's commit never pulls a live re-run's folder
away). A re-run batch therefore replaces the earlier run's files and rows wholesale (never
duplicates them), and a run killed half-way is never read. The committed run's files are then
filed into the deliverable's tree (``publish``, by the batch's process and again by the package
step, which finishes what a killed process left).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

from .errors import PackagingError
from .image_index import ImageRowsWriter
from .manifest import ManifestRow, write_batch_lines
from .members import MEMBERS_FOLDER, MemberWriter
from .reconciliation import Tally
from .rendered_rows import RENDERED_FOLDER, RenderedRowsWriter
from .rows import JsonValue, Sheet, Value, encode_row
from .tree import WrittenFile, publish

_IMAGE_ROWS = "image_index.csv"
_LIVE_FOLDER = "live"
# What runs committed before the batches wrote the index's own bytes called their plain CSV rows.
_PLAIN_IMAGE_ROWS = "images.csv"


class BatchNotCommitted(PackagingError):
    """The package step asked for a batch that has not finished."""


def batch_dir(staging: Path, batch_no: int) -> Path:
    return staging / "batches" / str(batch_no)


class BatchSpool:
    """Collects one run of one batch; use as a context manager, then ``commit``."""

    def __init__(self, staging: Path, batch_no: int, workbook_folder: PurePosixPath) -> None:
        """``workbook_folder``: the workbook's folder from the archive root, which its links
        are relative to (``write_workbook``'s ``link_base``)."""
        self._batch_dir = batch_dir(staging, batch_no)
        self._run = uuid.uuid4().hex
        self._run_dir = self._batch_dir / "runs" / self._run
        self._live = _RunLock.hold(self._batch_dir, self._run)  # before the run's folder exists
        (self._run_dir / "rows").mkdir(parents=True)
        #: the run's own deliverable tree, read by nobody until the run commits
        self.tree_dir = self._run_dir / "tree"
        self.tree_dir.mkdir()
        self._row_files: dict[str, IO[str]] = {}
        self._rendered_rows = RenderedRowsWriter(self._run_dir / RENDERED_FOLDER, workbook_folder)
        self._images = ImageRowsWriter(self._run_dir / _IMAGE_ROWS)
        #: the run's files, sorted when it commits (a batch's own: bounded by the batch size)
        self._manifest_rows: list[ManifestRow] = []
        self._entries: list[str] = []
        self._members = MemberWriter(self._run_dir)
        self.files = 0
        self.bytes = 0

    def __enter__(self) -> BatchSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()

    def add_row(self, sheet: Sheet, values: Sequence[Value]) -> None:
        out = self._row_files.get(sheet.key)
        if out is None:
            out = self._row_files[sheet.key] = (self._run_dir / "rows" / f"{sheet.key}.jsonl").open(
                "w", encoding="utf-8"
            )
        encoded = encode_row(sheet, values)
        # ASCII escapes keep even a lone surrogate (from a source's bad JSON) round-tripping.
        out.write(json.dumps(encoded))
        out.write("\n")
        self._rendered_rows.add(sheet, encoded)

    def add_patient(self, entries: Sequence[PurePosixPath]) -> None:
        """The patient's entries this run replaces in the tree (``PatientPaths.entries``, or
        only its C-CDA files in a C-CDA pass): filed from this run, or removed if it has none."""
        self._entries += [str(entry) for entry in entries]

    def add_image(self, values: Sequence[str]) -> None:
        self._images.add(values)

    def add_file(self, written: WrittenFile) -> None:
        self._manifest_rows.append((str(written.path), written.size, written.sha256))
        self._members.add(self.tree_dir, written)
        self.files += 1
        self.bytes += written.size

    def commit(self, tally: Tally) -> None:
        """Seal this run and make it the batch's result, replacing any earlier run."""
        self._close_files()
        self._rendered_rows.finish()
        write_batch_lines(self._run_dir / "manifest.csv", self._manifest_rows)
        self._members.seal()
        (self._run_dir / "tally.json").write_text(json.dumps(tally.to_json()), encoding="utf-8")
        (self._run_dir / "entries.json").write_text(json.dumps(self._entries), encoding="utf-8")
        pointer = self._batch_dir / f"committed.{self._run}.tmp"
        pointer.write_text(json.dumps({"run": self._run}), encoding="utf-8")
        os.replace(pointer, self._batch_dir / "committed.json")
        for run_dir in (self._batch_dir / "runs").iterdir():
            if run_dir.name != self._run:
                _remove_unless_live(self._batch_dir, run_dir)

    def publish(self, tree_dir: Path) -> None:
        """File the committed run's patients into the deliverable's tree; the run is no longer
        live once it has."""
        try:
            _publish_run(self._run_dir, tree_dir)
        finally:
            self._live.release()

    def discard(self) -> None:
        self._close_files()
        shutil.rmtree(self._run_dir, ignore_errors=True)
        self._live.release(remove=True)

    def _close_files(self) -> None:
        for out in self._row_files.values():
            out.close()
        self._images.close()
        self._rendered_rows.close()
        self._members.close()


class CommittedBatch:
    """The committed run of one batch, read back by the package step."""

    def __init__(self, staging: Path, batch_no: int) -> None:
        self.batch_no = batch_no
        pointer = batch_dir(staging, batch_no) / "committed.json"
        try:
            run = json.loads(pointer.read_text(encoding="utf-8"))["run"]
        except FileNotFoundError:
            raise BatchNotCommitted(f"batch {batch_no} has not completed") from None
        self._run_dir = batch_dir(staging, batch_no) / "runs" / run

    def rows(self, sheet: Sheet) -> Iterator[list[JsonValue]]:
        path = self._run_dir / "rows" / f"{sheet.key}.jsonl"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)

    @property
    def run_dir(self) -> Path:
        return self._run_dir

    def image_rows_path(self) -> Path:
        """The run's image-index rows in the index's own bytes. A run committed by the code
        before (a deploy in the middle of an export) has plain CSV rows instead: they are
        written out in the index's form once, so they get its formula guard and encoding."""
        path = self._run_dir / _IMAGE_ROWS
        plain = self._run_dir / _PLAIN_IMAGE_ROWS
        if not path.exists() and plain.exists():
            converting = self._run_dir / f"{_IMAGE_ROWS}.{uuid.uuid4().hex}.tmp"
            writer = ImageRowsWriter(converting)
            try:
                with _open_csv(plain, "r") as rows:
                    for row in csv.reader(rows):
                        writer.add(row)
            finally:
                writer.close()
            os.replace(converting, path)
        return path

    def publish(self, tree_dir: Path) -> None:
        """File what is left of the run's patients into the deliverable's tree."""
        _publish_run(self._run_dir, tree_dir)

    @property
    def manifest_path(self) -> Path:
        return self._run_dir / "manifest.csv"

    @property
    def members_dir(self) -> Path:
        return self._run_dir / MEMBERS_FOLDER

    def tally(self) -> Tally:
        data: dict[str, Any] = json.loads((self._run_dir / "tally.json").read_text("utf-8"))
        return Tally.from_json(data)


class _RunLock:
    """Marks a run live while its process writes, commits and files it: an exclusive
    ``flock`` on ``batches/<n>/live/<run>``, which the kernel (or the NFS server) drops when
    the process dies. A worker whose lease went stale can still finish and commit its run of a
    batch while the worker that took the batch over writes a run of its own; the commit leaves
    that live run alone instead of pulling its folder away mid-write."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self._path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def hold(cls, batch_folder: Path, run: str) -> _RunLock:
        folder = batch_folder / _LIVE_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / run, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return cls(folder / run, descriptor)

    def release(self, *, remove: bool = False) -> None:
        if remove:
            self._path.unlink(missing_ok=True)
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _remove_unless_live(batch_folder: Path, run_dir: Path) -> None:
    """Remove an earlier or abandoned run; a run whose process still holds its lock stays."""
    lock = batch_folder / _LIVE_FOLDER / run_dir.name
    try:
        descriptor = os.open(lock, os.O_WRONLY)
    except FileNotFoundError:  # a run from before runs were locked
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return
    try:
        shutil.rmtree(run_dir, ignore_errors=True)
        lock.unlink(missing_ok=True)
    finally:
        os.close(descriptor)


def _publish_run(run_dir: Path, tree_dir: Path) -> None:
    entries = json.loads((run_dir / "entries.json").read_text(encoding="utf-8"))
    publish(
        run_dir / "tree", tree_dir, [PurePosixPath(e) for e in entries], cleared=run_dir / "cleared"
    )


def _open_csv(path: Path, mode: str) -> IO[str]:
    return path.open(mode, encoding="utf-8", errors="surrogatepass", newline="")
