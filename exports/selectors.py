"""Reads about a request's exports: its attempts and what the page may offer from them. Reads
only: nothing here writes."""

from __future__ import annotations

from pathlib import Path

from exports.models import ExportJob, SourceConnection
from requests_app.models import ExportRequest


def latest_job(export_request: ExportRequest) -> ExportJob | None:
    """The request's newest attempt, whatever became of it."""
    return export_request.jobs.order_by("-attempt").first()


def delivered_job(export_request: ExportRequest) -> ExportJob | None:
    """The attempt whose archive the point of contact can fetch now."""
    return export_request.jobs.delivered().order_by("-attempt").first()


def source_of(export_request: ExportRequest) -> SourceConnection | None:
    return SourceConnection.objects.filter(request=export_request).first()


def has_source(export_request: ExportRequest) -> bool:
    return SourceConnection.objects.filter(request=export_request).exists()


def source_passed_test(export_request: ExportRequest) -> bool:
    """Whether the latest connection test of the source as attached now passed, whatever its
    kind: attaching or changing a source (or its credentials) clears the result."""
    return SourceConnection.objects.filter(request=export_request, last_test_ok=True).exists()


def manifest_on_disk(job: ExportJob | None) -> Path | None:
    """The run's manifest file, while its staging holds it."""
    if job is None or not job.manifest:
        return None
    path = Path(job.manifest["path"])
    return path if path.is_file() else None
