"""What the data team's buttons do to a run: start, stop, retry, approve, reject.

Each changes the request through requests_app's services (which check, under the row lock, the
same rule that decided to offer the button) and queues its stage's task on commit.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from exports.models import ExportJob, SourceConnection, Stage
from exports.pipeline import clock, dispatch
from exports.pipeline.staging import remove_staging
from exports.selectors import source_passed_test
from requests_app import selectors as request_selectors
from requests_app import services as request_services
from requests_app.services import RequestActionError


def _live_job(export_request_id: int) -> ExportJob | None:
    """The request's running attempt, row-locked. Call inside atomic()."""
    return (
        ExportJob.objects.select_for_update()
        .filter(request_id=export_request_id)
        .order_by("-attempt")
        .first()
    )


@transaction.atomic
def pipeline_start(*, export_request_id: int, actor) -> ExportJob:
    """Start a new attempt: claimed -> extracting, a fresh staging folder, planning queued."""
    export_request = request_selectors.request_for_update(export_request_id)
    if not SourceConnection.objects.filter(request=export_request).exists():
        raise RequestActionError("Attach the practice's data source before starting.")
    if not source_passed_test(export_request):
        raise RequestActionError(
            "Test the data source's connection before starting: the export starts only after "
            "the source, as attached now, passes its test."
        )
    attempt = (export_request.jobs.aggregate(Max("attempt"))["attempt__max"] or 0) + 1
    export_request = request_services.export_request_start_extraction(
        export_request_id=export_request_id, actor=actor, attempt=attempt
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
    dispatch.send_on_commit(dispatch.PLAN_EXTRACTION, job.pk)
    return job


def _end_attempt(export_request_id: int) -> ExportJob:
    """The attempt is over: its staging goes once the change commits."""
    job = _live_job(export_request_id)
    job.finished_at = clock.now()
    job.save(update_fields=["finished_at"])
    transaction.on_commit(lambda: remove_staging(job))
    return job


@transaction.atomic
def pipeline_stop(*, export_request_id: int, actor, reason: str) -> ExportJob:
    """Stop the running attempt, discard its staging; the request goes back to claimed."""
    request_services.export_request_stop_pipeline(
        export_request_id=export_request_id, actor=actor, reason=reason
    )
    return _end_attempt(export_request_id)


@transaction.atomic
def pipeline_retry(*, export_request_id: int, actor) -> ExportJob:
    """Back into the failed stage; finished batches are kept, only unfinished work runs."""
    request_services.export_request_retry_pipeline(export_request_id=export_request_id, actor=actor)
    job = _live_job(export_request_id)
    job.error, job.heartbeat_at, job.run_started_at = "", None, clock.now()
    job.save(update_fields=["error", "heartbeat_at", "run_started_at"])
    dispatch.send_on_commit(dispatch.STAGE_TASKS[job.stage], job.pk)
    return job


@transaction.atomic
def pipeline_approve(
    *, export_request_id: int, actor, acknowledge_failures: bool = False
) -> ExportJob:
    """The data team has read the reconciliation: deliver. Failed records need saying so."""
    job = _live_job(export_request_id)
    if job is None or job.stage != Stage.AWAITING_REVIEW:
        raise RequestActionError("There is no packaged export waiting for review.")
    failed = job.records_failed
    if failed and not acknowledge_failures:
        raise RequestActionError(
            f"{failed} records could not be exported. Read the reconciliation, then confirm that "
            "the export is to be delivered without them."
        )
    request_services.export_request_approve_delivery(
        export_request_id=export_request_id, actor=actor, records_failed=failed
    )
    job.heartbeat_at = None
    job.save(update_fields=["heartbeat_at"])
    dispatch.send_on_commit(dispatch.DELIVER_EXPORT, job.pk)
    return job


@transaction.atomic
def pipeline_reject(*, export_request_id: int, actor, reason: str) -> ExportJob:
    """The export is not right: discard this attempt; the request is claimed again."""
    request_services.export_request_reject_export(
        export_request_id=export_request_id, actor=actor, reason=reason
    )
    return _end_attempt(export_request_id)
