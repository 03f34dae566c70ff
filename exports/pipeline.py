"""The export pipeline over Celery: extract in parallel batches, package, review, deliver.

The database is the source of truth. Every unit of work is claimed with a conditional UPDATE
before it runs (a duplicate or redelivered message finds nothing to claim and does nothing),
writes its progress and a heartbeat as it goes, and records its end. A unit whose heartbeat
goes stale (its worker was killed, its message lost with a broker restart) is claimed again
by the next message for it; ``sweep_stale_work`` (a beat task) sends those messages. Files are
written under temporary names and renamed, so a unit that runs twice produces its files once.

Services here change state and queue tasks on commit; ``exports.tasks`` are thin entry points.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from exports import lifecycle, plan, stages
from exports.delivery.factory import delivery_backend
from exports.models import BatchStatus, ExportJob, ExtractBatch, SourceConnection, Stage
from exports.passwords import generate_archive_password
from exports.sources.registry import open_source
from requests_app import notifications
from requests_app.models import ExportRequest, Status
from requests_app.services import RequestActionError, record_event, transition_request

logger = logging.getLogger(__name__)

T = TypeVar("T")

ARCHIVE_FOLDER = "archive"
SOURCE_SPOOL_FOLDER = "source"


class PipelineStopped(Exception):
    """The job was stopped (or moved on) while this unit ran: drop the work quietly."""


def stale_after() -> timedelta:
    return timedelta(seconds=settings.EXPORT_STALE_SECONDS)


def _now():
    return timezone.now()


# -- staging ---------------------------------------------------------------------------------


def make_private_dir(path: Path) -> Path:
    """Staging holds PHI: owner-only, whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def remove_staging(job: ExportJob) -> None:
    shutil.rmtree(job.staging_dir, ignore_errors=True)
    logger.info("staging of job %s removed", job.pk)


def _remove_staging_if_stopped(jobs: QuerySet[ExportJob]) -> bool:
    """Returns whether the job is stopped; if it is, its staging is gone."""
    job = jobs.filter(stage=Stage.STOPPED).first()
    if job is None:
        return False
    if Path(job.staging_dir).exists():
        remove_staging(job)
    return True


def _ends_cleanly_if_stopped(jobs_of: Callable[[int], QuerySet[ExportJob]], *, dropped: T):
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


def _job(job_id: int) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(pk=job_id)


def _job_of_batch(batch_id: int) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(batches__pk=batch_id)


def export_context(job: ExportJob) -> stages.ExportContext:
    request = job.request
    return stages.ExportContext(
        practice_name=request.practice.name,
        practice_key=request.practice.ehr_practice_id,
        reference=request.reference,
        export_date=job.export_date,
        started_at=job.created_at,
    )


def _load_job(job_id: int) -> ExportJob:
    return ExportJob.objects.select_related("request__practice", "request__source_connection").get(
        pk=job_id
    )


def _source_for(job: ExportJob):
    spool = make_private_dir(Path(job.staging_dir) / SOURCE_SPOOL_FOLDER)
    return open_source(job.request.source_connection, spool_dir=spool)


def latest_job(export_request: ExportRequest) -> ExportJob | None:
    return export_request.jobs.order_by("-attempt").first()


# -- starting, stopping, retrying (the data team's buttons) -----------------------------------


@transaction.atomic
def pipeline_start(*, export_request_id: int, actor) -> ExportJob:
    """Start a new attempt: claimed -> extracting, a fresh staging folder, planning queued."""
    export_request = ExportRequest.objects.select_for_update().get(pk=export_request_id)
    if not SourceConnection.objects.filter(request=export_request).exists():
        raise RequestActionError("Attach the practice's data source before starting.")
    attempt = (export_request.jobs.aggregate(Max("attempt"))["attempt__max"] or 0) + 1
    export_request = transition_request(
        export_request_id,
        actor=actor,
        method="start_extraction",
        action="pipeline.started",
        details={"attempt": attempt},
    )
    job = ExportJob.objects.create(
        request=export_request,
        attempt=attempt,
        staging_dir=str(
            Path(settings.EXPORT_STAGING_DIR) / f"{export_request.reference}-attempt-{attempt}"
        ),
        export_date=timezone.localdate(),
        batch_size=settings.EXPORT_BATCH_SIZE,
    )
    _queue(lambda: _tasks().plan_extraction.delay(job.pk))
    return job


@transaction.atomic
def pipeline_stop(*, export_request_id: int, actor, reason: str) -> ExportJob:
    """Stop the running attempt, discard its staging; the request goes back to claimed."""
    if not reason.strip():
        raise RequestActionError("Say why the export is stopped.")
    transition_request(
        export_request_id,
        actor=actor,
        method="stop_pipeline",
        action="pipeline.stopped",
        note=reason,
    )
    job = (
        ExportJob.objects.select_for_update()
        .filter(request_id=export_request_id)
        .order_by("-attempt")
        .first()
    )
    job.stage = Stage.STOPPED
    job.finished_at = _now()
    job.save(update_fields=["stage", "finished_at"])
    transaction.on_commit(lambda: remove_staging(job))
    return job


@transaction.atomic
def pipeline_retry(*, export_request_id: int, actor) -> ExportJob:
    """Back into the failed stage; finished batches are kept, only unfinished work runs."""
    transition_request(export_request_id, actor=actor, method="retry", action="pipeline.retried")
    job = (
        ExportJob.objects.select_for_update()
        .filter(request_id=export_request_id)
        .order_by("-attempt")
        .first()
    )
    job.stage, job.failed_stage, job.error = job.failed_stage, "", ""
    job.heartbeat_at, job.run_started_at = None, _now()
    job.save(update_fields=["stage", "failed_stage", "error", "heartbeat_at", "run_started_at"])
    _queue_stage(job)
    return job


def _queue_stage(job: ExportJob) -> None:
    task = {
        Stage.EXTRACTING: "plan_extraction",
        Stage.PACKAGING: "package_export",
        Stage.UPLOADING: "deliver_export",
    }[job.stage]
    _queue(lambda: getattr(_tasks(), task).delay(job.pk))


def _queue(send: Callable[[], object]) -> None:
    transaction.on_commit(send)


def _tasks():
    from exports import tasks  # tasks import this module: late import breaks the cycle

    return tasks


# -- failure ----------------------------------------------------------------------------------


def pipeline_fail(job_id: int, *, message: str) -> None:
    """Stop the job's stage and fail the request with a message for the data team (no PHI)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.stage not in (Stage.EXTRACTING, Stage.PACKAGING, Stage.UPLOADING):
            return
        job.failed_stage, job.stage, job.error = job.stage, Stage.FAILED, message
        job.heartbeat_at = None
        job.save(update_fields=["failed_stage", "stage", "error", "heartbeat_at"])
        ExtractBatch.objects.filter(job=job, status=BatchStatus.RUNNING).update(
            status=BatchStatus.PENDING
        )
        transition_request(
            job.request_id, actor=None, method="fail", action="pipeline.failed", note=message
        )
        transaction.on_commit(lambda: notifications.request_failed(job.request_id))
    logger.warning("job %s failed in %s: %s", job_id, job.failed_stage, message)


# -- extraction --------------------------------------------------------------------------------


@_ends_cleanly_if_stopped(_job, dropped=[])
def job_plan(job_id: int) -> list[int]:
    """Cut the practice into batches (once per job) and return the batches still to do."""
    job = _load_job(job_id)
    if job.stage != Stage.EXTRACTING:
        return []
    if not job.batches.exists():
        make_private_dir(Path(job.staging_dir))
        with _source_for(job) as source:
            source.prepare()
            planned = [
                ExtractBatch(job=job, number=number, patient_ids=ids)
                for number, ids in enumerate(stages.plan_batches(source, job.batch_size), start=1)
            ]
        with transaction.atomic():
            locked = ExportJob.objects.select_for_update().get(pk=job_id)
            if not locked.batches.exists():  # another planner may have won the race
                ExtractBatch.objects.bulk_create(planned, batch_size=200)
                locked.patient_count = sum(len(batch.patient_ids) for batch in planned)
                locked.save(update_fields=["patient_count"])
        logger.info("job %s planned: %d batches", job_id, len(planned))
    return list(job.batches.exclude(status=BatchStatus.DONE).values_list("pk", flat=True))


def queue_batches(job_id: int, batch_ids: Iterable[int]) -> None:
    tasks = _tasks()
    sent = 0
    for batch_id in batch_ids:
        tasks.extract_patients.delay(batch_id)
        sent += 1
    if not sent:
        maybe_start_packaging(job_id)


def batch_claim(batch_id: int, *, worker: str) -> bool:
    """Take a batch that is pending, or running with a stale heartbeat. One claimant wins."""
    now = _now()
    claimable = Q(status=BatchStatus.PENDING) | Q(
        status=BatchStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    return bool(
        ExtractBatch.objects.filter(claimable, pk=batch_id, job__stage=Stage.EXTRACTING).update(
            status=BatchStatus.RUNNING,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            patients_done=0,
            runs=F("runs") + 1,
            last_error="",
        )
    )


class _BatchProgress:
    """Heartbeat and patient count as the batch reads ids; raises if the job was stopped."""

    every = timedelta(seconds=1)

    def __init__(self, batch: ExtractBatch, worker: str) -> None:
        self.batch = batch
        self.worker = worker
        self.last = _now()

    def ids(self, patient_ids: list[str]) -> Iterator[str]:
        for done, patient_id in enumerate(patient_ids):
            self.beat(done)
            yield patient_id

    def beat(self, done: int, *, force: bool = False) -> None:
        now = _now()
        if not force and now - self.last < self.every:
            return
        self.last = now
        updated = ExtractBatch.objects.filter(
            pk=self.batch.pk, worker=self.worker, job__stage=Stage.EXTRACTING
        ).update(patients_done=done, heartbeat_at=now)
        if not updated:
            raise PipelineStopped


@_ends_cleanly_if_stopped(_job_of_batch, dropped=False)
def batch_run(batch_id: int, *, worker: str) -> bool:
    """Extract one batch if it can be claimed. Returns whether it ran."""
    if not batch_claim(batch_id, worker=worker):
        logger.info("batch %s not claimable (done, running elsewhere or job stopped)", batch_id)
        return False
    batch = ExtractBatch.objects.select_related("job").get(pk=batch_id)
    job = _load_job(batch.job_id)
    progress = _BatchProgress(batch, worker)
    try:
        with _source_for(job) as source:
            result = stages.run_batch(
                source,
                export_context(job),
                progress.ids(batch.patient_ids),
                Path(job.staging_dir),
                batch.number,
            )
        finished = ExtractBatch.objects.filter(
            pk=batch_id, worker=worker, status=BatchStatus.RUNNING, job__stage=Stage.EXTRACTING
        ).update(
            status=BatchStatus.DONE,
            patients_done=len(batch.patient_ids),
            files=result.files,
            bytes=result.bytes,
            records_failed=result.records_failed,
            heartbeat_at=_now(),
            finished_at=_now(),
        )
    except PipelineStopped:
        logger.info("batch %s dropped: its job stopped", batch_id)
        return False
    except Exception as exc:
        _release_batch(batch_id, worker=worker, error=exc)
        raise
    if finished:
        maybe_start_packaging(job.pk)
    return bool(finished)


def _drop_dead_connection() -> None:
    """After an error that may have been the database connection itself (a restart, a
    failover), drop a dead connection so the next query opens a new one."""
    failed_queries = connection.errors_occurred and connection.connection is not None
    if failed_queries and not connection.is_usable():
        connection.close()


def _release_batch(batch_id: int, *, worker: str, error: Exception) -> None:
    """Hand a failed batch back, so the task's retry can claim it (over a new connection if
    the error killed the old one), rather than leave it claimed until it goes stale."""
    _drop_dead_connection()
    ExtractBatch.objects.filter(pk=batch_id, worker=worker).update(
        status=BatchStatus.PENDING, last_error=type(error).__name__
    )


def maybe_start_packaging(job_id: int) -> bool:
    """The last batch to finish moves the job on; the row lock makes that exactly one."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.stage != Stage.EXTRACTING or job.batches.exclude(status=BatchStatus.DONE).exists():
            return False
        if job.patient_count is None:  # not planned yet
            return False
        job.stage, job.extracted_at, job.heartbeat_at = Stage.PACKAGING, _now(), None
        job.save(update_fields=["stage", "extracted_at", "heartbeat_at"])
        transition_request(
            job.request_id, actor=None, method="start_packaging", action="pipeline.extracted",
            details={"patients": job.patient_count, "batches": job.batches.count()},
        )  # fmt: skip
        _queue(lambda: _tasks().package_export.delay(job_id))
    return True


# -- single-task stages: packaging and delivery -------------------------------------------------


def _claim_stage(job_id: int, stage: str, worker: str) -> bool:
    """Take the stage's lease (its heartbeat) if nobody holds a fresh one."""
    now = _now()
    free = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - stale_after())
    return bool(
        ExportJob.objects.filter(free, pk=job_id, stage=stage).update(
            heartbeat_at=now, stage_worker=worker
        )
    )


def _release_stage(job_id: int, stage: str) -> None:
    _drop_dead_connection()
    ExportJob.objects.filter(pk=job_id, stage=stage).update(heartbeat_at=None)


def _single_task_stage(stage: str) -> Callable[[Callable[[int], bool]], Callable[..., bool]]:
    """Run the stage's work under its lease; returns whether the work ran to its end.

    Work that raises gives the lease back before the error reaches Celery: its retry must be
    able to claim the stage at once, or it would find a fresh heartbeat and quietly do nothing.
    """

    def decorate(work: Callable[[int], bool]) -> Callable[..., bool]:
        @functools.wraps(work)
        def run(job_id: int, *, worker: str = "") -> bool:
            if not _claim_stage(job_id, stage, worker):
                return False
            try:
                return work(job_id)
            except PipelineStopped:
                return False
            except Exception:
                try:
                    _release_stage(job_id, stage)
                except DatabaseError as release_error:
                    # The stage's own error matters more; the lease goes stale for the sweeper.
                    logger.warning(
                        "job %s: %s lease not released (%s)",
                        job_id, stage, type(release_error).__name__,
                    )  # fmt: skip
                raise

        return run

    return decorate


class _StageProgress:
    """A single-task stage's heartbeat and byte counts, written at most every second (the
    final count at once); raises PipelineStopped once the job has left the stage."""

    every = timedelta(seconds=1)

    def __init__(self, job_id: int, stage: str) -> None:
        self.job_id, self.stage, self.last = job_id, stage, _now()
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
        return _now() - self.last >= self.every

    def _write(self, **counts: int) -> None:
        self.last = _now()
        if not ExportJob.objects.filter(pk=self.job_id, stage=self.stage).update(
            heartbeat_at=self.last, **counts
        ):
            raise PipelineStopped


@_ends_cleanly_if_stopped(_job, dropped=False)
@_single_task_stage(Stage.PACKAGING)
def job_package(job_id: int) -> bool:
    """Workbook, index, manifest, reconciliation, then the encrypted archive."""
    job = _load_job(job_id)
    staging = Path(job.staging_dir)
    heartbeat = _StageProgress(job_id, Stage.PACKAGING)
    with _source_for(job) as source:
        packaged = stages.run_package(
            source,
            export_context(job),
            staging,
            list(job.batches.values_list("number", flat=True)),
            heartbeat=heartbeat.beat,
        )
    reconciliation = packaged.reconciliation
    if not reconciliation.is_balanced:
        pipeline_fail(
            job_id,
            message="Records went missing: the reconciliation does not balance for "
            + ", ".join(line.label for line in reconciliation.unbalanced)
            + ". Nothing was archived.",
        )
        return False
    if not job.archive_password:
        # Saved before archiving, so a re-run encrypts with the same password.
        job.archive_password = generate_archive_password()
        job.save(update_fields=["archive_password"])
    heartbeat(0, packaged.bytes)
    parts = stages.run_archive(
        packaged,
        make_private_dir(staging / ARCHIVE_FOLDER),
        job.archive_password,
        part_bytes=settings.EXPORT_ARCHIVE_PART_BYTES,
        progress=heartbeat,
    )
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job_id)
        if locked.stage != Stage.PACKAGING:
            return False
        locked.stage, locked.packaged_at, locked.heartbeat_at = Stage.AWAITING_REVIEW, _now(), None
        locked.reconciliation = reconciliation.as_dict()
        locked.archive_parts = [
            {"path": str(p.path), "bytes": p.bytes, "sha256": p.sha256, "sha1": p.sha1,
             "number": p.number, "of": p.of, "patient_folders": p.patient_folders}
            for p in parts
        ]  # fmt: skip
        locked.manifest = {
            "path": str(packaged.root.parent / packaged.manifest),
            "files": packaged.files,
            "bytes": packaged.bytes,
            "sha256": packaged.manifest_sha256,
        }
        locked.save(
            update_fields=[
                "stage",
                "packaged_at",
                "heartbeat_at",
                "reconciliation",
                "archive_parts",
                "manifest",
            ]
        )
        transition_request(
            job.request_id, actor=None, method="finish_packaging", action="pipeline.packaged",
            details={"files": packaged.files, "bytes": packaged.bytes, "parts": len(parts),
                     "records_failed": locked.records_failed},
        )  # fmt: skip
    return True


@transaction.atomic
def pipeline_approve(
    *, export_request_id: int, actor, acknowledge_failures: bool = False
) -> ExportJob:
    """The data team has read the reconciliation: deliver. Failed records need saying so."""
    job = (
        ExportJob.objects.select_for_update()
        .filter(request_id=export_request_id)
        .order_by("-attempt")
        .first()
    )
    if job is None or job.stage != Stage.AWAITING_REVIEW:
        raise RequestActionError("There is no packaged export waiting for review.")
    failed = job.records_failed
    if failed and not acknowledge_failures:
        raise RequestActionError(
            f"{failed} records could not be exported. Read the reconciliation, then confirm that "
            "the export is to be delivered without them."
        )
    transition_request(
        export_request_id, actor=actor, method="approve", action="pipeline.approved",
        details={"records_failed": failed},
    )  # fmt: skip
    job.stage, job.heartbeat_at = Stage.UPLOADING, None
    job.save(update_fields=["stage", "heartbeat_at"])
    _queue(lambda: _tasks().deliver_export.delay(job.pk))
    return job


@transaction.atomic
def pipeline_reject(*, export_request_id: int, actor, reason: str) -> ExportJob:
    """The export is not right: discard this attempt; the request is claimed again."""
    if not reason.strip():
        raise RequestActionError("Say what is wrong with the export.")
    transition_request(
        export_request_id, actor=actor, method="reject", action="pipeline.rejected", note=reason
    )
    job = (
        ExportJob.objects.select_for_update()
        .filter(request_id=export_request_id)
        .order_by("-attempt")
        .first()
    )
    job.stage, job.finished_at = Stage.STOPPED, _now()
    job.save(update_fields=["stage", "finished_at"])
    transaction.on_commit(lambda: remove_staging(job))
    return job


@dataclass(frozen=True)
class StoredPart:
    """An archive part as the job recorded it: what delivery backends take."""

    path: Path
    bytes: int
    sha256: str
    sha1: str


@_single_task_stage(Stage.UPLOADING)
def job_deliver(job_id: int) -> bool:
    job = _load_job(job_id)
    export_request = job.request
    parts = [
        StoredPart(Path(p["path"]), p["bytes"], p["sha256"], p["sha1"]) for p in job.archive_parts
    ]
    delivered_at = _now()
    expires_at = delivered_at + timedelta(days=settings.EXPORT_ACCESS_DAYS)
    backend = delivery_backend(staging=Path(job.staging_dir))
    receipt = backend.deliver(
        export_request.reference,
        parts,
        recipient_email=export_request.poc_email,
        expires_at=expires_at,
        progress=_StageProgress(job_id, Stage.UPLOADING),
        shared_link_password=lifecycle.shared_link_password_for(job, backend),
    )
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job_id)
        if locked.stage != Stage.UPLOADING:
            return False
        locked.stage, locked.delivered_at, locked.heartbeat_at = Stage.DELIVERED, delivered_at, None
        locked.delivery_receipt = receipt.to_dict()
        locked.save(update_fields=["stage", "delivered_at", "heartbeat_at", "delivery_receipt"])
        delivered = transition_request(
            export_request.pk, actor=None, method="deliver", action="pipeline.delivered",
            at=delivered_at, access_days=settings.EXPORT_ACCESS_DAYS,
        )  # fmt: skip
        record_event(
            delivered, actor=None, action="delivery.uploaded", from_status=Status.DELIVERED,
            details=receipt.to_dict(),
        )  # fmt: skip
        lifecycle.record_access_granted(delivered, receipt)
        transaction.on_commit(lambda: _after_delivery(locked))
    return True


def _after_delivery(job: ExportJob) -> None:
    remove_staging(job)
    notifications.request_delivered(job.request_id)
    notifications.delivery_instructions(job.request_id, receipt=job.delivery_receipt)


# -- recovery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    batches_requeued: int = 0
    jobs_planned: int = 0
    stages_requeued: int = 0
    packaging_started: int = 0


def source_asks_to_wait(job_id: int, *, seconds: float) -> None:
    """The job's source will answer again in ``seconds``: until then its work is waiting (its
    tasks are due again then), not lost, so the sweeper leaves it alone."""
    until = _now() + timedelta(seconds=seconds)
    ExportJob.objects.filter(pk=job_id).update(source_wait_until=until)
    logger.info("job %s: the source asked to wait %.0f s", job_id, seconds)
    # A pause is when the plan, recomputed from what was spent, may slip past the promise.
    plan.warn_if_late(ExportJob.objects.values_list("request_id", flat=True).get(pk=job_id))


def sweep_stale_work() -> SweepReport:
    """Send again whatever work stopped moving: killed workers, lost messages."""
    now = _now()
    cutoff = now - stale_after()
    tasks = _tasks()
    requeued = planned = stage_requeued = started = 0
    # A job waiting for its source is quiet on purpose; once the wait is over (plus the stale
    # window for its tasks to start again) it is judged like any other.
    jobs = ExportJob.objects.exclude(source_wait_until__gt=cutoff)

    for job in jobs.filter(stage=Stage.EXTRACTING):
        batches = job.batches.all()
        if not batches.exists():
            if job.run_started_at < cutoff:
                tasks.plan_extraction.delay(job.pk)
                planned += 1
            continue
        if not batches.exclude(status=BatchStatus.DONE).exists():
            started += maybe_start_packaging(job.pk)
            continue
        resend = Q(status=BatchStatus.RUNNING, heartbeat_at__lt=cutoff)
        # Pending batches are normally waiting in the queue; only an idle job has lost them.
        if job.run_started_at < cutoff and not batches.filter(heartbeat_at__gte=cutoff).exists():
            resend |= Q(status=BatchStatus.PENDING)
        for batch_id in batches.filter(resend).values_list("pk", flat=True):
            tasks.extract_patients.delay(batch_id)
            requeued += 1

    stage_tasks = {Stage.PACKAGING: tasks.package_export, Stage.UPLOADING: tasks.deliver_export}
    stuck = jobs.filter(stage__in=list(stage_tasks)).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    for job in stuck:
        stage_tasks[job.stage].delay(job.pk)
        stage_requeued += 1

    report = SweepReport(requeued, planned, stage_requeued, started)
    if report != SweepReport():
        logger.info("sweep: %s", report)
    return report
