"""A demo export started through the real services, and steps to move it along in-process."""

import pytest

from exports import connections, pipeline
from requests_app.models import Status
from tests.factories import data_member, export_request, pass_connection_test


@pytest.fixture
def started_job(settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    settings.EXPORT_BATCH_SIZE = 4
    settings.EXPORT_DEMO_LARGE_DOCUMENT_BYTES = 8192
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=12, seed=2)
    pass_connection_test(request, member)
    job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
    return request, member, job


@pytest.fixture
def extracted_job(started_job):
    """Every batch planned and run here, as workers would: the job waits for packaging."""
    *_, job = started_job
    for batch_id in pipeline.job_plan(job.pk):
        assert pipeline.batch_run(batch_id, worker="worker-a")
    return started_job


@pytest.fixture
def packaged_job(extracted_job):
    *_, job = extracted_job
    assert pipeline.job_package(job.pk)
    return extracted_job


@pytest.fixture
def approved_job(packaged_job):
    request, member, job = packaged_job
    pipeline.pipeline_approve(export_request_id=request.pk, actor=member, acknowledge_failures=True)
    return request, member, job


@pytest.fixture
def outage(monkeypatch):
    """``outage(owner, name, error, times)``: ``owner.name`` raises ``error`` on its first
    ``times`` calls, then works again. Returns the attempts made (one entry per call)."""

    def fail_first(owner, name: str, error: Exception, times: int) -> list[int]:
        working = getattr(owner, name)
        attempts: list[int] = []

        def flaky(*args, **kwargs):
            attempts.append(len(attempts) + 1)
            if len(attempts) <= times:
                raise error
            return working(*args, **kwargs)

        monkeypatch.setattr(owner, name, flaky)
        return attempts

    return fail_first
