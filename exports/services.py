"""Writes the exports pages make that are not a pipeline step (those are in
``exports.pipeline.commands``): recording a download of the packaged manifest.

The manifest is what the data team reads before approving delivery, beside the reconciliation:
every file's path, size and SHA-256. Its paths name patients, so it is read only through this
checked, recorded download, and only while the run's staging still holds it; the job keeps its
file count, size and SHA-256 for good (``ExportJob.manifest``) as the fingerprint of what was
packaged.
"""

from __future__ import annotations

from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from exports.selectors import latest_job, manifest_on_disk
from requests_app import permissions
from requests_app import services as request_services
from requests_app.selectors import request_by_id
from requests_app.services import RequestActionError

MANIFEST_DOWNLOADED = "manifest.downloaded"


@transaction.atomic
def manifest_download(*, export_request_id: int, actor: AbstractBaseUser) -> BinaryIO:
    """The latest run's manifest, opened for its operator or an admin; the download is
    recorded before the file is handed over."""
    export_request = request_by_id(export_request_id)
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
    request_services.request_event_record(
        export_request,
        actor=actor,
        action=MANIFEST_DOWNLOADED,
        details={"job": job.pk, "sha256": job.manifest["sha256"]},
    )
    return manifest
