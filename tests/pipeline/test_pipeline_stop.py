"""Stopping a run: the request goes back to claimed, the attempt is stopped, and no staging
(PHI) survives, even when a worker was still writing into it when the data team pressed Stop."""

from pathlib import Path

import pytest

from exports import pipeline, stages, tasks
from exports.models import BatchStatus, ExportJob, ExtractBatch, Stage
from exports.sources.demo import DemoSource
from requests_app.models import ExportRequest, Status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stop_on_third_patient(monkeypatch):
    """The data team presses Stop while a worker reads the third patient it was given."""

    def arm(export_request, member) -> None:
        read_patient, reads = DemoSource.read_patient, []

        def read_then_stop(source, patient_id):
            reads.append(patient_id)
            if len(reads) == 3:
                pipeline.pipeline_stop(
                    export_request_id=export_request.pk, actor=member, reason="Wrong practice"
                )
            return read_patient(source, patient_id)

        monkeypatch.setattr(DemoSource, "read_patient", read_then_stop)

    return arm


def assert_stopped_without_staging(export_request, job) -> None:
    job.refresh_from_db()
    assert job.stage == Stage.STOPPED
    assert ExportRequest.objects.get(pk=export_request.pk).status == Status.CLAIMED
    assert export_request.events.get(action="pipeline.stopped").note == "Wrong practice"
    assert not Path(job.staging_dir).exists()


def test_stopping_between_batches_removes_the_staging_folder(started_job):
    export_request, member, job = started_job
    first, *rest = pipeline.job_plan(job.pk)
    assert pipeline.batch_run(first, worker="worker-a")
    assert Path(job.staging_dir).is_dir()

    pipeline.pipeline_stop(
        export_request_id=export_request.pk, actor=member, reason="Wrong practice"
    )

    assert_stopped_without_staging(export_request, job)
    assert not pipeline.batch_run(rest[0], worker="worker-a"), "a stopped job takes no work"
    assert not Path(job.staging_dir).exists()


def test_a_batch_running_when_the_run_is_stopped_ends_without_leaving_files(
    started_job, stop_on_third_patient
):
    export_request, member, job = started_job
    first, *_ = pipeline.job_plan(job.pk)
    stop_on_third_patient(export_request, member)

    assert not pipeline.batch_run(first, worker="worker-a")

    assert_stopped_without_staging(export_request, job)
    assert ExtractBatch.objects.get(pk=first).status != BatchStatus.DONE


def test_packaging_running_when_the_run_is_stopped_ends_without_leaving_files(
    extracted_job, monkeypatch
):
    """Stopped as the workbook and manifest are done: the task goes on to the archive."""
    export_request, member, job = extracted_job
    run_package = stages.run_package

    def package_then_stop(*args, **kwargs):
        packaged = run_package(*args, **kwargs)
        pipeline.pipeline_stop(
            export_request_id=export_request.pk, actor=member, reason="Wrong practice"
        )
        return packaged

    monkeypatch.setattr(stages, "run_package", package_then_stop)

    tasks.package_export.apply((job.pk,))

    assert_stopped_without_staging(export_request, job)
    assert ExportJob.objects.get(pk=job.pk).archive_parts == []
