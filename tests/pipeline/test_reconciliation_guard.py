"""Packaging on the Celery path refuses to archive an export whose reconciliation does not
balance: the request fails saying which records went missing, and nothing is archived."""

from pathlib import Path

import pytest

from exports import tasks
from exports.models import ExportJob, Stage
from exports.sources.demo import DemoSource
from exports.sources.records import Category
from requests_app.models import ExportRequest, Status

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unbalanced_reconciliation_fails_the_package_task_and_archives_nothing(
    extracted_job, monkeypatch
):
    export_request, _, job = extracted_job
    counted = DemoSource.counts_in_source

    def one_medication_more(source):
        counts = dict(counted(source))
        counts[Category.MEDICATIONS] += 1  # the source holds a record nobody exported
        return counts

    monkeypatch.setattr(DemoSource, "counts_in_source", one_medication_more)

    tasks.package_export.apply((job.pk,))

    job = ExportJob.objects.get(pk=job.pk)
    assert (job.stage, job.failed_stage) == (Stage.FAILED, Stage.PACKAGING)
    assert job.error.startswith("Records went missing: the reconciliation does not balance for")
    assert job.error.endswith("Nothing was archived.")
    assert job.archive_parts == [] and not job.archive_password
    assert not list(Path(job.staging_dir).rglob("*.zip"))
    export_request = ExportRequest.objects.get(pk=export_request.pk)
    assert export_request.status == Status.FAILED
    assert not export_request.events.filter(action="pipeline.packaged").exists()


def test_a_balanced_reconciliation_is_archived(extracted_job):
    export_request, _, job = extracted_job

    tasks.package_export.apply((job.pk,))

    job = ExportJob.objects.get(pk=job.pk)
    assert job.stage == Stage.AWAITING_REVIEW and job.reconciliation["is_balanced"] is True
    assert [Path(part["path"]).is_file() for part in job.archive_parts] == [True] * len(
        job.archive_parts
    )
    assert ExportRequest.objects.get(pk=export_request.pk).status == Status.AWAITING_REVIEW
