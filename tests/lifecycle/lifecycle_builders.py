"""A request with a packaged archive, ready for the pipeline's delivery step, and delivered."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exports import pipeline
from exports.models import ExportJob, Stage
from exports.passwords import generate_archive_password
from exports.pipeline.staging import ARCHIVE_FOLDER
from requests_app.models import ExportRequest, Status
from requests_app.services import transition_request
from tests import factories


def uploading_job(
    *, part_sizes: tuple[int, ...] = (1500,), manager=None, claimed_by=None
) -> ExportJob:
    """A request walked through the state machine to uploading, with its job's archive parts
    (random bytes, real digests) in the job's staging folder."""
    member = claimed_by or factories.data_member()
    practice = factories.practice(manager) if manager else None
    export_request = factories.export_request(
        status=Status.CLAIMED, claimed_by=member, practice_=practice
    )
    with transaction.atomic():
        for actor, method, action in (
            (member, "start_extraction", "pipeline.started"),
            (None, "start_packaging", "pipeline.extracted"),
            (None, "finish_packaging", "pipeline.packaged"),
            (member, "approve", "pipeline.approved"),
        ):
            transition_request(export_request.pk, actor=actor, method=method, action=action)
    staging = Path(settings.EXPORT_STAGING_DIR) / f"{export_request.reference}-attempt-1"
    archive = pipeline.make_private_dir(staging / ARCHIVE_FOLDER)
    parts = []
    for number, size in enumerate(part_sizes, start=1):
        data = os.urandom(size)
        path = archive / f"export.part{number}.zip"
        path.write_bytes(data)
        parts.append(
            {"path": str(path), "bytes": size, "number": number, "of": len(part_sizes),
             "sha256": hashlib.sha256(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
             "patient_folders": 3}
        )  # fmt: skip
    return ExportJob.objects.create(
        request=export_request,
        attempt=1,
        staging_dir=str(staging),
        export_date=timezone.localdate(),
        archive_parts=parts,
        archive_password=generate_archive_password(),
    )


def delivered(job: ExportJob, capture, *, clean_up: bool = True) -> ExportRequest:
    """Run the pipeline's delivery step. ``clean_up=False`` skips what runs after the commit
    (staging removal), as when a worker dies right after delivering; the emails are in the
    outbox either way."""
    with capture(execute=clean_up):
        assert pipeline.job_deliver(job.pk)
    job.refresh_from_db()
    assert job.stage == Stage.DELIVERED
    return ExportRequest.objects.get(pk=job.request_id)
