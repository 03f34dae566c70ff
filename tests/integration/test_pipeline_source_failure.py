"""A source that keeps failing: retried with backoff, then the request fails visibly with a
message the data team can act on; retry picks up from there once the source answers again."""

from datetime import UTC, datetime

import pytest

from exports import connections, pipeline
from exports.models import ExportJob, Stage
from requests_app.models import Status
from tests.factories import data_member, export_request, pass_connection_test
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, FakeDrChrono
from tests.integration.conftest import purge_queues, start_worker, wait_for
from tests.integration.test_pipeline import status_of

pytestmark = pytest.mark.integration

ATTEMPTS_PER_RUN = 2  # the DrChrono client's own attempts
TASK_RETRIES = 2  # then Celery's retries of the whole task


def test_a_failing_source_retries_then_fails_visibly_and_retry_finishes(
    transactional_db, pipeline_settings, tmp_path, settings
):
    with FakeDrChrono() as fake:
        member = data_member()
        request = export_request(status=Status.CLAIMED, claimed_by=member)
        connections.source_connect_drchrono(
            export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET, access_token=fake.access_token,
            refresh_token=fake.refresh_token, expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        # the connection test runs in this process, and passes before the source breaks
        settings.DRCHRONO_API_BASE_URL, settings.DRCHRONO_TOKEN_URL = fake.base_url, fake.token_url
        pass_connection_test(request, member)
        read_by_the_test = len(fake.api_requests("/api/patients"))
        fake.fail("/api/patients", 500, times=10_000)
        purge_queues()
        worker = start_worker(
            tmp_path,
            extra_env={
                **pipeline_settings,
                "DRCHRONO_API_BASE_URL": fake.base_url,
                "DRCHRONO_TOKEN_URL": fake.token_url,
                "DRCHRONO_MAX_ATTEMPTS": str(ATTEMPTS_PER_RUN),
                "DRCHRONO_BACKOFF_MS": "10",
                "EXPORT_TASK_MAX_RETRIES": str(TASK_RETRIES),
                "EXPORT_TASK_RETRY_BACKOFF_SECONDS": "1",
            },
        )
        try:
            pipeline.pipeline_start(export_request_id=request.pk, actor=member)
            wait_for(lambda: status_of(request.pk) == Status.FAILED, timeout=120, message="failed")

            job = ExportJob.objects.get(request=request)
            assert (job.stage, job.failed_stage) == (Stage.FAILED, Stage.EXTRACTING)
            assert job.error == (
                f"DrChrono /api/patients failed with HTTP 500 after {ATTEMPTS_PER_RUN} attempts"
            )
            read_by_the_run = len(fake.api_requests("/api/patients")) - read_by_the_test
            assert read_by_the_run == ATTEMPTS_PER_RUN * (1 + TASK_RETRIES)
            failed_event = request.events.get(action="pipeline.failed")
            assert failed_event.note == job.error

            fake.faults.clear()
            pipeline.pipeline_retry(export_request_id=request.pk, actor=member)
            wait_for(
                lambda: status_of(request.pk) == Status.AWAITING_REVIEW,
                timeout=180,
                message="review",
            )
        finally:
            worker.stop()
    job.refresh_from_db()
    assert job.reconciliation["is_balanced"]
    assert job.patient_count == len(fake.practice.objects("patients"))
