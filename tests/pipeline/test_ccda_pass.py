"""A source whose own C-CDA costs an API call per patient gets those last: a pass of C-CDA
batches over the same patients, run once every records batch is done, before packaging."""

from datetime import timedelta

import pytest

from exports import pipeline
from exports.models import ExtractBatch
from exports.progress import job_progress
from exports.sources.demo import DemoSource

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fetching_ccdas(monkeypatch):
    """The demo practice, as if each patient's C-CDA cost a call (as DrChrono's does)."""
    monkeypatch.setattr(DemoSource, "fetches_ccda_per_patient", True)


def test_the_c_cda_pass_runs_after_every_records_batch_and_before_packaging(
    started_job, fetching_ccdas, monkeypatch
):
    *_, job = started_job
    sent = []
    monkeypatch.setattr("exports.tasks.extract_patients.delay", sent.append)

    records_batches = pipeline.job_plan(job.pk)
    ccda_batches = list(
        ExtractBatch.objects.filter(job=job, ccdas=True).values_list("pk", flat=True)
    )
    assert len(records_batches) == len(ccda_batches) == 3  # 12 patients, 4 a batch
    assert not set(records_batches) & set(ccda_batches)

    assert not pipeline.batch_run(ccda_batches[0], worker="early")  # records come first
    for batch_id in records_batches[:-1]:
        assert pipeline.batch_run(batch_id, worker="worker-a")
    assert sent == []
    assert pipeline.batch_run(records_batches[-1], worker="worker-a")
    assert sorted(sent) == sorted(ccda_batches)  # the last records batch sends the pass
    job.refresh_from_db()
    progress = job_progress(job, stale_after=timedelta(minutes=5))
    assert (progress.patients_done, progress.ccdas_done, progress.ccdas_total) == (12, 0, 12)
    assert progress.percent == 50  # the C-CDAs, a call each, are half the work left to show
    assert progress.seconds_left is None  # the records' pace says nothing of the allowance's
    assert not pipeline.job_package(job.pk)  # packaging waits for the C-CDAs

    for batch_id in ccda_batches:
        assert pipeline.batch_run(batch_id, worker="worker-b")
    assert pipeline.job_package(job.pk)

    job.refresh_from_db()
    lines = {line["key"]: line for line in job.reconciliation["lines"]}
    assert lines["ccda_files"]["exported"] == 12
    assert lines["patients"]["exported"] == 12
