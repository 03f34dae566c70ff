"""The pipeline card on the request page: source, progress, review, controls."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from exports import pipeline, pipeline_actions
from exports.models import SourceConnection
from exports.progress import job_progress
from exports.review import manifest_on_disk
from requests_app import permissions
from requests_app.models import ExportRequest


def pipeline_panel_context(user, export_request: ExportRequest) -> dict:
    job = pipeline.latest_job(export_request)
    progress = (
        job_progress(job, timezone.now(), stale_after=pipeline.stale_after()) if job else None
    )
    return {
        "r": export_request,
        "source": SourceConnection.objects.filter(request=export_request).first(),
        "job": job,
        "progress": progress,
        "reconciliation": job.reconciliation if job else None,
        "manifest_downloadable": manifest_on_disk(job) is not None
        and permissions.can_operate_request(user, export_request),
        "poll_seconds": settings.EXPORT_PROGRESS_POLL_SECONDS,
        "controls": [
            (action, action.form())
            for action in pipeline_actions.available_to(user, export_request)
        ],
    }
