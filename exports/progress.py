"""What the request page shows while the pipeline runs: counts, rate, time left, who runs what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from exports.models import RUNNING_STAGES, BatchStatus, ExportJob, ExtractBatch, Stage


@dataclass(frozen=True)
class RunningBatch:
    number: int
    worker: str
    patients_done: int
    patients_total: int
    stale: bool


@dataclass(frozen=True)
class JobProgress:
    stage: str
    stage_label: str
    patients_total: int | None
    patients_done: int
    batches_total: int
    batches_done: int
    bytes_written: int
    records_failed: int
    stage_bytes_done: int
    stage_bytes_total: int
    rate_per_minute: float | None
    seconds_left: int | None
    running: tuple[RunningBatch, ...]
    error: str
    #: patients of the final C-CDA pass (a source whose own C-CDAs cost a call each), and done
    ccdas_total: int = 0
    ccdas_done: int = 0

    @property
    def percent(self) -> int:
        """Extraction is counted in patients; packaging and upload in bytes."""
        if self.stage == Stage.EXTRACTING:
            if not self.patients_total:
                return 0
            done = self.patients_done + self.ccdas_done
            return min(100, done * 100 // (self.patients_total + self.ccdas_total))
        if self.stage in (Stage.PACKAGING, Stage.UPLOADING):
            if not self.stage_bytes_total:
                return 0
            return min(100, self.stage_bytes_done * 100 // self.stage_bytes_total)
        return 100 if self.stage in (Stage.AWAITING_REVIEW, Stage.DELIVERED) else 0

    @property
    def is_running(self) -> bool:
        return self.stage in RUNNING_STAGES

    @property
    def shows_percent(self) -> bool:
        return self.is_running or self.stage in (Stage.AWAITING_REVIEW, Stage.DELIVERED)

    @property
    def is_extracting(self) -> bool:
        return self.stage == Stage.EXTRACTING

    @property
    def is_packaging(self) -> bool:
        return self.stage == Stage.PACKAGING

    @property
    def is_uploading(self) -> bool:
        return self.stage == Stage.UPLOADING

    @property
    def is_failed(self) -> bool:
        return self.stage == Stage.FAILED


def job_progress(
    job: ExportJob, now: datetime | None = None, *, stale_after: timedelta
) -> JobProgress:
    now = now or timezone.now()
    totals = job.batches.aggregate(
        batches=Count("pk"),
        done=Count("pk", filter=Q(status=BatchStatus.DONE)),
        # a patient counts once: the C-CDA pass goes over the same patients again
        patients=Sum("patients_done", filter=Q(ccdas=False)),
        written=Sum("bytes"),
        failed=Sum("records_failed"),
        ccdas_done=Sum("patients_done", filter=Q(ccdas=True)),
    )
    stage = job.stage
    # A stopped, failed or finished run has nothing running, whatever its batches last said.
    running = tuple(
        RunningBatch(
            number=batch.number,
            worker=batch.worker,
            patients_done=batch.patients_done,
            patients_total=len(batch.patient_ids),
            stale=batch.heartbeat_at is not None and now - batch.heartbeat_at > stale_after,
        )
        for batch in ExtractBatch.objects.filter(job=job, status=BatchStatus.RUNNING)
        if stage in RUNNING_STAGES
    )
    patients_done = totals["patients"] or 0
    rate = seconds_left = None
    # Counted from this run's first batch: not planning, not batches done before a retry.
    this_run = job.batches.filter(started_at__gte=job.run_started_at, ccdas=False).aggregate(
        since=Min("started_at"), patients_done=Sum("patients_done")
    )
    records_left = (job.patient_count or 0) > patients_done
    # The C-CDA pass runs at the allowance's pace, not the records' (the plan estimates it).
    if stage == Stage.EXTRACTING and this_run["patients_done"] and records_left:
        elapsed = (now - this_run["since"]).total_seconds()
        if elapsed > 0:
            per_second = this_run["patients_done"] / elapsed
            rate = per_second * 60
            if job.patient_count:
                seconds_left = int((job.patient_count - patients_done) / per_second)
    return JobProgress(
        stage=stage,
        stage_label=job.stage_label,
        patients_total=job.patient_count,
        patients_done=patients_done,
        batches_total=totals["batches"],
        batches_done=totals["done"],
        bytes_written=totals["written"] or 0,
        records_failed=job.records_failed if job.reconciliation else (totals["failed"] or 0),
        stage_bytes_done=job.stage_bytes_done,
        stage_bytes_total=job.stage_bytes_total,
        rate_per_minute=rate,
        seconds_left=seconds_left,
        running=running,
        error=job.error,
        ccdas_total=sum(
            len(ids) for ids in job.batches.filter(ccdas=True).values_list("patient_ids", flat=True)
        ),
        ccdas_done=totals["ccdas_done"] or 0,
    )
