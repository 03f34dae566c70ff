"""Who holds a unit of work: a batch, or a single-task stage (packaging, delivery).

Every unit is claimed with a conditional UPDATE before it runs (a duplicate or redelivered
message finds nothing to claim and does nothing) and writes a heartbeat as it goes. A unit
whose heartbeat goes stale (its worker was killed, its message lost) may be claimed again.
A heartbeat that finds the job gone from its stage raises ``PipelineStopped``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from exports.models import BatchStatus, ExportJob, ExtractBatch, Stage
from exports.pipeline import clock
from exports.pipeline.staging import remove_staging
from requests_app import selectors as request_selectors

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PipelineStopped(Exception):
    """The job was stopped (or moved on) while this unit ran: drop the work quietly."""


def stale_after() -> timedelta:
    return timedelta(seconds=settings.EXPORT_STALE_SECONDS)


def locked_job(job_id: int) -> ExportJob:
    """The job, row-locked after its request's row (the order every writer takes), so its
    stage is read under both locks. Call inside atomic()."""
    request_id = ExportJob.objects.values_list("request_id", flat=True).get(pk=job_id)
    export_request = request_selectors.request_for_update(request_id)
    job = ExportJob.objects.select_for_update().get(pk=job_id)
    job.request = export_request
    return job


# -- a stop interrupting work ------------------------------------------------------------------


def job_of(job_id: int) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(pk=job_id)


def job_of_batch(batch_id: int) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(batches__pk=batch_id)


def _remove_staging_if_stopped(jobs: QuerySet[ExportJob]) -> bool:
    """Returns whether the job is stopped; if it is, its staging is gone."""
    job = jobs.stopped().first()
    if job is None:
        return False
    if Path(job.staging_dir).exists():
        remove_staging(job)
    return True


def ends_cleanly_if_stopped(jobs_of: Callable[[int], QuerySet[ExportJob]], *, dropped: T):
    """For work on a job (or one of its batches) that a stop may interrupt.

    The stop removes staging at once, but work still running can write into it again, create it
    anew, or fail because it vanished. When the work ends and finds its job stopped, it removes
    the staging again and ends quietly, returning ``dropped``.
    """

    def decorate(work: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(work)
        def run(object_id: int, **kwargs) -> T:
            try:
                outcome = work(object_id, **kwargs)
            except Exception:
                try:
                    stopped = _remove_staging_if_stopped(jobs_of(object_id))
                except DatabaseError:
                    stopped = False  # the work's own error is the one to report
                if not stopped:
                    raise
                logger.info("%s %s dropped: its job was stopped", work.__name__, object_id)
                return dropped
            _remove_staging_if_stopped(jobs_of(object_id))
            return outcome

        return run

    return decorate


def drop_dead_connection() -> None:
    """After an error that may have been the database connection itself (a restart, a
    failover), drop a dead connection so the next query opens a new one."""
    failed_queries = connection.errors_occurred and connection.connection is not None
    if failed_queries and not connection.is_usable():
        connection.close()


# -- batches -----------------------------------------------------------------------------------


def extracting_batches() -> QuerySet[ExtractBatch]:
    """Batches of jobs that are extracting now: the only ones work may be done on."""
    return ExtractBatch.objects.filter(job__in=ExportJob.objects.in_stage(Stage.EXTRACTING))


def batch_claim(batch_id: int, *, worker: str) -> bool:
    """Take a batch that is pending, or running with a stale heartbeat. One claimant wins.
    A batch of the C-CDA pass waits until every records batch of its job is done."""
    now = clock.now()
    claimable = Q(status=BatchStatus.PENDING) | Q(
        status=BatchStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    records_undone = ExtractBatch.objects.filter(job=OuterRef("job"), ccdas=False).exclude(
        status=BatchStatus.DONE
    )
    claimable &= Q(ccdas=False) | ~Exists(records_undone)
    return bool(
        extracting_batches()
        .filter(claimable, pk=batch_id)
        .update(
            status=BatchStatus.RUNNING,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            patients_done=0,
            runs=F("runs") + 1,
            last_error="",
        )
    )


def release_batch(batch_id: int, *, worker: str, error: Exception) -> None:
    """Hand a failed batch back, so the task's retry can claim it (over a new connection if
    the error killed the old one), rather than leave it claimed until it goes stale."""
    drop_dead_connection()
    ExtractBatch.objects.filter(pk=batch_id, worker=worker).update(
        status=BatchStatus.PENDING, last_error=type(error).__name__
    )


class BatchProgress:
    """Heartbeat and patient count as the batch reads ids; raises if the job was stopped."""

    every = timedelta(seconds=1)

    def __init__(self, batch: ExtractBatch, worker: str) -> None:
        self.batch = batch
        self.worker = worker
        self.last = clock.now()

    def ids(self, patient_ids: list[str]) -> Iterator[str]:
        for done, patient_id in enumerate(patient_ids):
            self.beat(done)
            yield patient_id

    def beat(self, done: int, *, force: bool = False) -> None:
        now = clock.now()
        if not force and now - self.last < self.every:
            return
        self.last = now
        updated = (
            extracting_batches()
            .filter(pk=self.batch.pk, worker=self.worker)
            .update(patients_done=done, heartbeat_at=now)
        )
        if not updated:
            raise PipelineStopped


# -- single-task stages: packaging and delivery --------------------------------------------------


def claim_stage(job_id: int, stage: str, worker: str) -> bool:
    """Take the stage's lease (its heartbeat) if nobody holds a fresh one."""
    now = clock.now()
    free = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - stale_after())
    return bool(
        ExportJob.objects.in_stage(stage)
        .filter(free, pk=job_id)
        .update(heartbeat_at=now, stage_worker=worker)
    )


def release_stage(job_id: int, stage: str) -> None:
    drop_dead_connection()
    ExportJob.objects.in_stage(stage).filter(pk=job_id).update(heartbeat_at=None)


def single_task_stage(stage: str) -> Callable[[Callable[[int], bool]], Callable[..., bool]]:
    """Run the stage's work under its lease; returns whether the work ran to its end.

    Work that raises gives the lease back before the error reaches Celery: its retry must be
    able to claim the stage at once, or it would find a fresh heartbeat and quietly do nothing.
    Work a stop interrupted ends quietly, its staging removed (``ends_cleanly_if_stopped``).
    """

    def decorate(work: Callable[[int], bool]) -> Callable[..., bool]:
        @ends_cleanly_if_stopped(job_of, dropped=False)
        @functools.wraps(work)
        def run(job_id: int, *, worker: str = "") -> bool:
            if not claim_stage(job_id, stage, worker):
                return False
            try:
                return work(job_id)
            except PipelineStopped:
                return False
            except Exception:
                try:
                    release_stage(job_id, stage)
                except DatabaseError as release_error:
                    # The stage's own error matters more; the lease goes stale for the sweeper.
                    logger.warning(
                        "job %s: %s lease not released (%s)",
                        job_id, stage, type(release_error).__name__,
                    )  # fmt: skip
                raise

        return run

    return decorate


class StageProgress:
    """A single-task stage's heartbeat and byte counts, written at most every second (the
    final count at once); raises PipelineStopped once the job has left the stage."""

    every = timedelta(seconds=1)

    def __init__(self, job_id: int, stage: str) -> None:
        self.job_id, self.stage, self.last = job_id, stage, clock.now()
        self.written: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self._due() and (done < total or (done, total) == self.written):
            return
        self._write(stage_bytes_done=done, stage_bytes_total=total)
        self.written = (done, total)

    def beat(self) -> None:
        """Still alive, with no bytes to count (packaging's steps before the archive)."""
        if self._due():
            self._write()

    def _due(self) -> bool:
        return clock.now() - self.last >= self.every

    def _write(self, **counts: int) -> None:
        self.last = clock.now()
        if (
            not ExportJob.objects.in_stage(self.stage)
            .filter(pk=self.job_id)
            .update(heartbeat_at=self.last, **counts)
        ):
            raise PipelineStopped
