"""A whole export in one command, without the portal's database or a broker.

``run_local_export`` runs the steps of ``exports.stages`` (the ones the Celery pipeline runs)
on this machine: the practice is cut into batches, extracted by a pool of worker processes
(each opens its own source), packaged, and archived into the output folder. It serves
``manage.py export_practice`` (the data team's tool) and the benchmarks.

Everything temporary lives in a staging folder inside the output folder, readable by the
owner only, removed at the end unless the tree is kept for inspection. Nothing here logs or
prints PHI: only counts, record ids, categories and paths the caller chose.
"""

from __future__ import annotations

import enum
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from exports import stages
from exports.archive import DEFAULT_PART_BYTES, ArchivePart
from exports.local_sources import SourceSpec
from exports.packaging.batch import BatchResult
from exports.packaging.reconciliation import Reconciliation, ReconciliationLine
from exports.passwords import generate_archive_password
from exports.sources.base import PracticeSource

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".export-staging-"
SOURCE_SPOOL_FOLDER = "source-spool"
#: failed record ids listed per reconciliation line in the summary (all are in the CSV)
SUMMARY_MAX_IDS = 10

#: ``progress(stage, done, total)``: stage is "patients" (done/total patients extracted),
#: "ccdas" (patients whose source C-CDA was fetched, in the final pass of a source that fetches
#: them one call each) or "archive" (bytes of the tree archived); called often, keep it cheap
ProgressCallback = Callable[[str, int, int], None]


class ExitCode(enum.IntEnum):
    """The command's exit status."""

    EXPORTED = 0  # every record exported or excluded with a reason
    RECORDS_FAILED = 1  # archived, but some records failed (each listed with its reason)
    NOT_ARCHIVED = 2  # the reconciliation does not balance, or the export crashed


@dataclass(frozen=True)
class LocalExportResult:
    """What the export produced; the password is in the password file, not here."""

    archives: tuple[ArchivePart, ...]  # empty when the reconciliation did not balance
    reconciliation: Reconciliation
    patients: int
    tree: Path | None  # the unpacked deliverable, when kept

    @property
    def exit_code(self) -> ExitCode:
        if not self.reconciliation.is_balanced:
            return ExitCode.NOT_ARCHIVED
        if self.reconciliation.has_failures:
            return ExitCode.RECORDS_FAILED
        return ExitCode.EXPORTED


def run_local_export(
    spec: SourceSpec,
    context: stages.ExportContext,
    *,
    out_dir: Path,
    password_file: Path,
    batch_size: int,
    workers: int | None = None,
    part_bytes: int = DEFAULT_PART_BYTES,
    keep_tree: bool = False,
    progress: ProgressCallback | None = None,
) -> LocalExportResult:
    """Export the practice ``spec`` opens into encrypted archives in ``out_dir``.

    The archive password is written to ``password_file``, which must not exist (it is created
    owner-only before any work starts, and removed again if no archive comes of the run).
    ``workers`` defaults to the number of CPUs, capped by what the source allows. An
    unbalanced reconciliation is returned without archives; any other failure raises.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    workers = _worker_count(spec, workers)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = generate_archive_password()
    write_secret_file(password_file, password + "\n")
    archived = False
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))  # mode 0700
    try:
        spool_dir = staging / SOURCE_SPOOL_FOLDER
        spool_dir.mkdir(mode=0o700)
        with spec.open(spool_dir) as source:
            source.prepare()
            # For the progress bar only; counts_in_source() would read the whole practice.
            total = source.test_connection().patient_count or 0
            batch_numbers, patients = _extract(
                spec, source, context, staging, batch_size, workers, _reporter(progress, total)
            )
            if source.fetches_ccda_per_patient:
                # Last, so a spent allowance holds up nothing else: every other file is in.
                ccda_numbers, _ = _extract(
                    spec,
                    source,
                    context,
                    staging,
                    batch_size,
                    workers,
                    _reporter(progress, total, stage="ccdas"),
                    ccdas_after=len(batch_numbers),
                )
                batch_numbers += ccda_numbers
            packaged = stages.run_package(source, context, staging, batch_numbers)
        reconciliation = packaged.reconciliation
        parts: list[ArchivePart] = []
        if reconciliation.is_balanced:
            parts = stages.run_archive(
                packaged,
                out_dir,
                password,
                part_bytes=part_bytes,
                progress=_archive_reporter(progress),
            )
            archived = True
        else:
            logger.error("Reconciliation unbalanced: nothing was archived")
        return LocalExportResult(
            archives=tuple(parts),
            reconciliation=reconciliation,
            patients=patients,
            tree=packaged.root if keep_tree else None,
        )
    finally:
        if not archived:
            password_file.unlink(missing_ok=True)
        if not keep_tree:
            shutil.rmtree(staging, ignore_errors=True)


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` readable and writable by the owner only; never overwrite a file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # the umask may only take bits away; make it exact
        os.write(descriptor, text.encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def reconciliation_summary(reconciliation: Reconciliation) -> list[str]:
    """The reconciliation as text lines for a terminal: one row per category, then the
    reasons for what was excluded or failed and the ids of failed records."""
    width = max(len(line.label) for line in reconciliation.lines)
    header = f"{'Category':<{width}}  {'In source':>9}  {'Exported':>8}  {'Excluded':>8}  " + (
        f"{'Failed':>6}"
    )
    lines = [header, "-" * len(header)]
    for line in reconciliation.lines:
        flag = "" if line.is_balanced else "  UNBALANCED: records unaccounted for"
        lines.append(
            f"{line.label:<{width}}  {line.in_source:>9}  {line.exported:>8}  "
            f"{line.excluded:>8}  {line.failed:>6}{flag}"
        )
    for line in reconciliation.lines:
        lines.extend(_reasons(line))
    lines.extend(f"Unavailable: {note}" for note in reconciliation.notes)
    return lines


def _reasons(line: ReconciliationLine) -> Iterator[str]:
    for reason, count in line.excluded_reasons.items():
        yield f"{line.label}: {count} excluded: {reason}"
    for reason, count in line.failed_reasons.items():
        yield f"{line.label}: {count} failed: {reason}"
    if line.failed_ids:
        ids = line.failed_ids[:SUMMARY_MAX_IDS]
        shown = ", ".join(record_id or "(whole list)" for record_id in ids)
        more = len(line.failed_ids) - SUMMARY_MAX_IDS
        yield f"{line.label}: failed ids: {shown}" + (f" and {more} more" if more > 0 else "")


def _worker_count(spec: SourceSpec, requested: int | None) -> int:
    if requested is not None and requested < 1:
        raise ValueError("workers must be at least 1")
    count = requested or os.cpu_count() or 1
    if spec.max_workers is not None:
        count = min(count, spec.max_workers)
    return count


def _extract(
    spec: SourceSpec,
    source: PracticeSource,
    context: stages.ExportContext,
    staging: Path,
    batch_size: int,
    workers: int,
    batch_done: Callable[[BatchResult, int], None],
    *,
    ccdas_after: int | None = None,
) -> tuple[list[int], int]:
    """Extract every batch; returns the batch numbers and the number of patients read.

    With ``ccdas_after`` (the number of records batches), the C-CDA pass: the same batches'
    C-CDAs, numbered after the records batches.
    """
    ccdas = ccdas_after is not None
    batches = enumerate(stages.plan_batches(source, batch_size), start=(ccdas_after or 0) + 1)
    numbers: list[int] = []
    patients = 0
    if workers == 1:
        for number, patient_ids in batches:
            result = stages.run_batch(source, context, patient_ids, staging, number, ccdas=ccdas)
            numbers.append(number)
            patients += len(patient_ids)
            batch_done(result, len(patient_ids))
        return numbers, patients

    # Forked from a small server process, not from this one: workers start clean, without
    # this process's threads and open connections.
    pool_context = multiprocessing.get_context("forkserver")
    pool_context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=pool_context) as pool:
        in_flight: dict[Future[BatchResult], int] = {}
        try:
            for number, patient_ids in batches:
                # Planning stays a few batches ahead of the workers: ids are never all held.
                while len(in_flight) >= 2 * workers:
                    patients += _collect(in_flight, batch_done)
                future = pool.submit(
                    extract_batch_in_worker, spec, context, patient_ids, staging, number, ccdas
                )
                in_flight[future] = len(patient_ids)
                numbers.append(number)
            while in_flight:
                patients += _collect(in_flight, batch_done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return numbers, patients


def _collect(
    in_flight: dict[Future[BatchResult], int], batch_done: Callable[[BatchResult, int], None]
) -> int:
    """Wait for at least one batch; raises the first batch's error. Returns patients done."""
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    patients = 0
    for future in done:
        size = in_flight.pop(future)
        batch_done(future.result(), size)
        patients += size
    return patients


def extract_batch_in_worker(
    spec: SourceSpec,
    context: stages.ExportContext,
    patient_ids: Sequence[str],
    staging: Path,
    number: int,
    ccdas: bool = False,
) -> BatchResult:
    """One batch in a worker process, with a source of its own."""
    with spec.open(staging / SOURCE_SPOOL_FOLDER) as source:
        return stages.run_batch(source, context, patient_ids, staging, number, ccdas=ccdas)


def _reporter(
    progress: ProgressCallback | None, total: int, *, stage: str = "patients"
) -> Callable[[BatchResult, int], None]:
    done = 0

    def batch_done(result: BatchResult, size: int) -> None:
        nonlocal done
        done += size
        if progress is not None:
            progress(stage, done, max(total, done))

    return batch_done


def _archive_reporter(progress: ProgressCallback | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress("archive", done, total)
