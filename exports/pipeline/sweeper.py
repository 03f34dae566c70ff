"""Recovery: send again whatever work stopped moving (killed workers, lost messages), and leave
alone a job whose source asked it to wait."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q

from exports import plan
from exports.models import BatchStatus, ExportJob, Stage
from exports.pipeline import clock, dispatch
from exports.pipeline.extract import maybe_start_packaging
from exports.pipeline.leases import stale_after

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    batches_requeued: int = 0
    jobs_planned: int = 0
    stages_requeued: int = 0
    packaging_started: int = 0


def source_asks_to_wait(job_id: int, *, seconds: float) -> None:
    """The job's source will answer again in ``seconds``: until then its work is waiting (its
    tasks are due again then), not lost, so the sweeper leaves it alone."""
    until = clock.now() + timedelta(seconds=seconds)
    ExportJob.objects.filter(pk=job_id).update(source_wait_until=until)
    logger.info("job %s: the source asked to wait %.0f s", job_id, seconds)
    # A pause is when the plan, recomputed from what was spent, may slip past the promise.
    plan.warn_if_late(ExportJob.objects.values_list("request_id", flat=True).get(pk=job_id))


def sweep_stale_work() -> SweepReport:
    """Send again whatever work stopped moving: killed workers, lost messages."""
    cutoff = clock.now() - stale_after()
    requeued = planned = stage_requeued = started = 0
    # A job waiting for its source is quiet on purpose; once the wait is over (plus the stale
    # window for its tasks to start again) it is judged like any other.
    jobs = ExportJob.objects.exclude(source_wait_until__gt=cutoff)

    for job in jobs.in_stage(Stage.EXTRACTING):
        batches = job.batches.all()
        if not batches.exists():
            if job.run_started_at < cutoff:
                dispatch.send(dispatch.PLAN_EXTRACTION, job.pk)
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
            dispatch.send(dispatch.EXTRACT_PATIENTS, batch_id)
            requeued += 1

    single_task_stages = (Stage.PACKAGING, Stage.UPLOADING)
    stuck = (
        jobs.in_stage(*single_task_stages)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .select_related("request")
    )
    for job in stuck:
        dispatch.send(dispatch.STAGE_TASKS[job.stage], job.pk)
        stage_requeued += 1

    report = SweepReport(requeued, planned, stage_requeued, started)
    if report != SweepReport():
        logger.info("sweep: %s", report)
    return report
