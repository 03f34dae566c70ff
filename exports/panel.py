"""The pipeline card on the request page: source, progress, review, controls."""

from __future__ import annotations

from django.utils import timezone

from exports import selectors, smart_keys
from exports.models import ExportJob, Stage
from exports.pipeline import stale_after
from exports.progress import job_progress
from requests_app import permissions
from requests_app.actions import with_forms
from requests_app.models import ExportRequest, RequestEvent, Status
from requests_app.selectors import actions_for, latest_event

#: how a run that ended before delivery is named, by the event that ended it
ENDINGS = {"pipeline.rejected": "Rejected", "pipeline.stopped": "Stopped"}


def how_run_ended(job: ExportJob | None) -> RequestEvent | None:
    """The rejection or stop that ended a run before delivery: who, when, and their reason."""
    if job is None or job.stage != Stage.STOPPED:
        return None
    return latest_event(job.request, ENDINGS, since=job.created_at)


def pipeline_panel_context(user, export_request: ExportRequest, posted=None) -> dict:
    """``posted``: a control's refused form, shown again with what was typed and its errors."""
    job = selectors.latest_job(export_request)
    now = timezone.now()
    progress = job_progress(job, now, stale_after=stale_after()) if job else None
    waiting = job is not None and job.source_wait_until is not None and job.source_wait_until > now
    ending = how_run_ended(job)
    return {
        "r": export_request,
        "ending": ending,
        "ending_label": ENDINGS[ending.action] if ending else "",
        "claimed": export_request.status == Status.CLAIMED,
        "source": selectors.source_of(export_request),
        "job": job,
        "progress": progress,
        "reconciliation": job.reconciliation if job else None,
        "source_waiting_until": job.source_wait_until if waiting else None,
        "manifest_downloadable": selectors.manifest_on_disk(job) is not None
        and permissions.can_operate_request(user, export_request),
        "jwks_url": smart_keys.jwks_url(),
        # The same answer as "Next steps": the card shows the pipeline's share of it.
        "controls": with_forms(
            [action for action in actions_for(user, export_request) if action.on_pipeline_card],
            posted,
        ),
    }
