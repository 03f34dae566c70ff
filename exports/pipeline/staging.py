"""An attempt's working area: its private staging folder, the source it reads, its context."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from exports import stages
from exports.models import ExportJob
from exports.sources.base import PracticeSource
from exports.sources.registry import open_source

logger = logging.getLogger(__name__)

ARCHIVE_FOLDER = "archive"
SOURCE_SPOOL_FOLDER = "source"


def make_private_dir(path: Path) -> Path:
    """Staging holds PHI: owner-only, whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def remove_staging(job: ExportJob) -> None:
    shutil.rmtree(job.staging_dir, ignore_errors=True)
    logger.info("staging of job %s removed", job.pk)


def load_job(job_id: int) -> ExportJob:
    return ExportJob.objects.select_related("request__practice", "request__source_connection").get(
        pk=job_id
    )


def source_for(job: ExportJob) -> PracticeSource:
    spool = make_private_dir(Path(job.staging_dir) / SOURCE_SPOOL_FOLDER)
    return open_source(job.request.source_connection, spool_dir=spool)


def export_context(job: ExportJob) -> stages.ExportContext:
    request = job.request
    return stages.ExportContext(
        practice_name=request.practice.name,
        practice_key=request.practice.ehr_practice_id,
        reference=request.reference,
        export_date=job.export_date,
        started_at=job.created_at,
    )
