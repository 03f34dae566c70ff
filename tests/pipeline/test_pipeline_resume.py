"""Retry resumes a failed extraction without redoing the batches that finished."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from exports import pipeline
from exports.models import BatchStatus, ExtractBatch, Stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_retry_resumes_only_the_unfinished_batches(started_job):
    request, member, job = started_job
    batch_ids = pipeline.job_plan(job.pk)
    assert len(batch_ids) == 3

    assert pipeline.batch_run(batch_ids[0], worker="worker-a")
    pipeline.pipeline_fail(
        job.pk, message="DrChrono /api/documents failed with HTTP 500 after 5 attempts"
    )

    job.refresh_from_db()
    assert (job.stage, job.failed_stage) == (Stage.FAILED, Stage.EXTRACTING)
    assert not pipeline.batch_run(batch_ids[1], worker="worker-a"), "a failed job takes no work"

    retried_at = timezone.now()
    pipeline.pipeline_retry(export_request_id=request.pk, actor=member)
    job.refresh_from_db()
    assert job.run_started_at >= retried_at, "the live rate counts from the retry"
    remaining = pipeline.job_plan(job.pk)
    assert remaining == batch_ids[1:]
    for batch_id in remaining:
        assert pipeline.batch_run(batch_id, worker="worker-b")

    job.refresh_from_db()
    assert job.stage == Stage.PACKAGING
    runs = dict(ExtractBatch.objects.filter(job=job).values_list("pk", "runs"))
    assert runs == {batch_ids[0]: 1, batch_ids[1]: 1, batch_ids[2]: 1}


def test_a_batch_that_runs_twice_writes_its_files_once(started_job):
    *_, job = started_job
    batch_ids = pipeline.job_plan(job.pk)
    assert pipeline.batch_run(batch_ids[0], worker="worker-a")
    first = sorted(p.relative_to(job.staging_dir) for p in _files(job))

    # Redelivered after it finished: nothing to claim, nothing written.
    assert not pipeline.batch_run(batch_ids[0], worker="worker-b")
    # Taken again as if its worker had died mid-run: the files are replaced, not duplicated.
    ExtractBatch.objects.filter(pk=batch_ids[0]).update(status=BatchStatus.PENDING)
    assert pipeline.batch_run(batch_ids[0], worker="worker-b")
    assert sorted(p.relative_to(job.staging_dir) for p in _files(job)) == first


def test_the_sweeper_sends_again_a_batch_whose_worker_went_silent(
    started_job, settings, monkeypatch
):
    *_, job = started_job
    settings.EXPORT_STALE_SECONDS = 1
    batch_ids = pipeline.job_plan(job.pk)
    assert pipeline.batch_claim(batch_ids[0], worker="killed-worker")
    sent = []
    monkeypatch.setattr("exports.tasks.extract_patients.delay", sent.append)

    ExtractBatch.objects.filter(pk=batch_ids[0]).update(
        heartbeat_at=timezone.now() - timedelta(seconds=5)
    )
    report = pipeline.sweep_stale_work()

    assert batch_ids[0] in sent and report.batches_requeued >= 1
    assert pipeline.batch_run(batch_ids[0], worker="rescuer")


def _files(job):
    return [p for p in Path(job.staging_dir, "tree").rglob("*") if p.is_file()]
