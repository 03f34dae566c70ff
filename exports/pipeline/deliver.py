"""The delivery stage: the archive's parts go to the backend, the point of contact gets access,
and the request is delivered; then staging goes and the emails are sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction

from exports import lifecycle
from exports.delivery.factory import delivery_backend
from exports.models import Stage
from exports.pipeline import clock
from exports.pipeline.leases import StageProgress, locked_job, single_task_stage
from exports.pipeline.staging import load_job, remove_staging
from requests_app import notifications
from requests_app import services as request_services


@dataclass(frozen=True)
class StoredPart:
    """An archive part as the job recorded it: what delivery backends take."""

    path: Path
    bytes: int
    sha256: str
    sha1: str


@single_task_stage(Stage.UPLOADING)
def job_deliver(job_id: int) -> bool:
    job = load_job(job_id)
    export_request = job.request
    parts = [
        StoredPart(Path(p["path"]), p["bytes"], p["sha256"], p["sha1"]) for p in job.archive_parts
    ]
    delivered_at = clock.now()
    expires_at = delivered_at + timedelta(days=settings.EXPORT_ACCESS_DAYS)
    backend = delivery_backend(staging=Path(job.staging_dir))
    receipt = backend.deliver(
        export_request.reference,
        parts,
        recipient_email=export_request.poc_email,
        expires_at=expires_at,
        progress=StageProgress(job_id, Stage.UPLOADING),
        shared_link_password=lifecycle.shared_link_password_for(job, backend),
    )
    with transaction.atomic():
        locked = locked_job(job_id)
        if locked.stage != Stage.UPLOADING:
            return False
        locked.delivered_at, locked.heartbeat_at = delivered_at, None
        locked.delivery_receipt = receipt.to_dict()
        locked.save(update_fields=["delivered_at", "heartbeat_at", "delivery_receipt"])
        delivered = request_services.export_request_deliver(
            export_request_id=export_request.pk,
            at=delivered_at,
            access_days=settings.EXPORT_ACCESS_DAYS,
            receipt=receipt.to_dict(),
        )
        lifecycle.record_access_granted(delivered, receipt)
        # Into the outbox with the delivery: both or neither.
        notifications.request_delivered(locked.request_id)
        notifications.delivery_instructions(locked.request_id, receipt=locked.delivery_receipt)
        transaction.on_commit(lambda: remove_staging(locked))
    return True
