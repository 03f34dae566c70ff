"""The packaging stage: workbook, index, manifest, reconciliation, then the encrypted archive.
The request then waits for the data team's review."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from exports import stages
from exports.models import Stage
from exports.passwords import generate_archive_password
from exports.pipeline import clock
from exports.pipeline.failure import pipeline_fail
from exports.pipeline.leases import (
    StageProgress,
    locked_job,
    single_task_stage,
)
from exports.pipeline.staging import (
    ARCHIVE_FOLDER,
    export_context,
    load_job,
    make_private_dir,
    source_for,
)
from requests_app import services as request_services


@single_task_stage(Stage.PACKAGING)
def job_package(job_id: int) -> bool:
    """Workbook, index, manifest, reconciliation, then the encrypted archive."""
    job = load_job(job_id)
    staging = Path(job.staging_dir)
    heartbeat = StageProgress(job_id, Stage.PACKAGING)
    with source_for(job) as source:
        packaged = stages.run_package(
            source,
            export_context(job),
            staging,
            list(job.batches.values_list("number", flat=True)),
            heartbeat=heartbeat.beat,
        )
    reconciliation = packaged.reconciliation
    if not reconciliation.is_balanced:
        pipeline_fail(
            job_id,
            message="Records went missing: the reconciliation does not balance for "
            + ", ".join(line.label for line in reconciliation.unbalanced)
            + ". Nothing was archived.",
        )
        return False
    if not job.archive_password:
        # Saved before archiving, so a re-run encrypts with the same password.
        job.archive_password = generate_archive_password()
        job.save(update_fields=["archive_password"])
    heartbeat(0, packaged.bytes)
    parts = stages.run_archive(
        packaged,
        make_private_dir(staging / ARCHIVE_FOLDER),
        job.archive_password,
        part_bytes=settings.EXPORT_ARCHIVE_PART_BYTES,
        progress=heartbeat,
    )
    with transaction.atomic():
        locked = locked_job(job_id)
        if locked.stage != Stage.PACKAGING:
            return False
        locked.packaged_at, locked.heartbeat_at = clock.now(), None
        locked.reconciliation = reconciliation.as_dict()
        locked.archive_parts = [
            {"path": str(p.path), "bytes": p.bytes, "sha256": p.sha256, "sha1": p.sha1,
             "number": p.number, "of": p.of, "patient_folders": p.patient_folders}
            for p in parts
        ]  # fmt: skip
        locked.manifest = {
            "path": str(packaged.root.parent / packaged.manifest),
            "files": packaged.files,
            "bytes": packaged.bytes,
            "sha256": packaged.manifest_sha256,
        }
        locked.save(
            update_fields=[
                "packaged_at",
                "heartbeat_at",
                "reconciliation",
                "archive_parts",
                "manifest",
            ]
        )
        request_services.export_request_finish_packaging(
            export_request_id=job.request_id,
            files=packaged.files,
            bytes=packaged.bytes,
            parts=len(parts),
            records_failed=locked.records_failed,
        )
    return True
