"""A stage that cannot go on: the request shows it failed, with a message for the data team."""

from __future__ import annotations

import logging

from django.db import transaction

from exports.models import RUNNING_STAGES, BatchStatus, ExtractBatch
from exports.pipeline.leases import locked_job
from requests_app import notifications
from requests_app import services as request_services

logger = logging.getLogger(__name__)


def pipeline_fail(job_id: int, *, message: str) -> None:
    """Stop the job's stage and fail the request with a message for the data team (no PHI)."""
    with transaction.atomic():
        job = locked_job(job_id)
        failed_stage = job.stage
        if failed_stage not in RUNNING_STAGES:
            return
        job.error, job.heartbeat_at = message, None
        job.save(update_fields=["error", "heartbeat_at"])
        ExtractBatch.objects.filter(job=job, status=BatchStatus.RUNNING).update(
            status=BatchStatus.PENDING
        )
        request_services.export_request_fail_stage(
            export_request_id=job.request_id, message=message
        )
        notifications.request_failed(job.request_id)  # into the outbox, with the failure
    logger.warning("job %s failed in %s: %s", job_id, failed_stage, message)
