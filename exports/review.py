"""What the data team reads before approving delivery, beside the reconciliation on the page:
the packaged tree's manifest (every file's path, size and SHA-256).

Its paths name patients, so it is read only through a checked, recorded download, and only
while the run's staging still holds it; the request keeps its file count, size and SHA-256
for good (``ExportJob.manifest``) as the fingerprint of what was packaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser

from exports.models import ExportJob
from exports.pipeline import latest_job
from requests_app import permissions
from requests_app.models import ExportRequest
from requests_app.services import RequestActionError, record_event

MANIFEST_DOWNLOADED = "manifest.downloaded"


def manifest_on_disk(job: ExportJob | None) -> Path | None:
    """The run's manifest file, while its staging holds it."""
    if job is None or not job.manifest:
        return None
    path = Path(job.manifest["path"])
    return path if path.is_file() else None


def open_manifest(*, export_request_id: int, actor: AbstractBaseUser) -> BinaryIO:
    """The latest run's manifest for its operator or an admin; the download is recorded."""
    export_request = ExportRequest.objects.get(pk=export_request_id)
    if not permissions.can_operate_request(actor, export_request):
        raise permissions.refusal(actor, MANIFEST_DOWNLOADED, export_request_id)
    job = latest_job(export_request)
    path = manifest_on_disk(job)
    if path is None:
        raise RequestActionError(
            "The manifest can be downloaded only while the packaged export is staged "
            "(until it is delivered or discarded)."
        )
    manifest = path.open("rb")
    record_event(
        export_request,
        actor=actor,
        action=MANIFEST_DOWNLOADED,
        from_status=export_request.status,
        details={"job": job.pk, "sha256": job.manifest["sha256"]},
    )
    return manifest
