"""Box is down when an approved export is delivered: the worker retries with backoff, then fails
the request visibly, with nothing shown as delivered; once Box is back, Retry delivers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from exports import pipeline, tasks
from exports.models import ExportJob, Stage
from requests_app.models import Status
from tests import factories
from tests.fakes.box_server import FakeBoxServer
from tests.integration.conftest import (
    RETRIES_WITHOUT_SWEEPER,
    purge_queues,
    start_worker,
    wait_for,
)
from tests.integration.test_pipeline import status_of
from tests.lifecycle.lifecycle_builders import uploading_job

pytestmark = pytest.mark.integration

TASK_RETRIES = 2


def box_settings(box: FakeBoxServer) -> dict[str, str]:
    """The worker's settings for delivering into the fake Box."""
    return {
        "EXPORT_DELIVERY_BACKEND": "box",
        "BOX_AUTH": "ccg",
        "BOX_CLIENT_ID": "portal-client",
        "BOX_CLIENT_SECRET": "portal-secret",
        "BOX_ENTERPRISE_ID": "900001",
        "BOX_PARENT_FOLDER_ID": box.add_folder("Export Portal deliveries").id,
        "BOX_API_URL": box.api_url,
        "BOX_UPLOAD_URL": box.upload_url,
        "BOX_OAUTH_URL": box.oauth_url,
    }


def take_down(box: FakeBoxServer) -> None:
    """Every request answers 503. Retry-After: 0 lets the Box client's own retries run at once,
    so the test waits only for the task's."""
    for method in ("GET", "POST", "PUT", "DELETE"):
        box.inject_fault(method, "", 503, times=10**6, retry_after="0")


def test_box_down_at_delivery_fails_the_request_visibly_and_retry_delivers_once_it_is_back(
    transactional_db, pipeline_settings, tmp_path
):
    with FakeBoxServer(part_size=1024) as box:
        job = uploading_job()
        request = job.request
        take_down(box)
        purge_queues()
        worker = start_worker(
            tmp_path,
            extra_env={
                **pipeline_settings,
                **box_settings(box),
                **RETRIES_WITHOUT_SWEEPER,
                "EXPORT_TASK_MAX_RETRIES": str(TASK_RETRIES),
            },
        )
        try:
            tasks.deliver_export.delay(job.pk)
            wait_for(lambda: status_of(request.pk) == Status.FAILED, timeout=30, message="failed")

            job.refresh_from_db()
            assert job.failed_stage == Stage.UPLOADING
            assert job.error.startswith(f"{request.reference}") and "Box answered 503" in job.error
            assert worker.log().count("retry: Retry in") == TASK_RETRIES
            assert job.delivery_receipt is None and box.files == {}
            assert not request.events.filter(action__startswith="delivery.").exists()
            client = Client()
            factories.sign_in(client, request.claimed_by)
            page = client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()
            assert "Box answered 503" in page and "Delivered" not in page

            box.clear_faults()
            pipeline.pipeline_retry(export_request_id=request.pk, actor=request.claimed_by)
            wait_for(lambda: status_of(request.pk) == Status.DELIVERED, timeout=60)
        finally:
            worker.stop()

    job = ExportJob.objects.get(pk=job.pk)
    assert job.stage == Stage.DELIVERED
    [uploaded] = box.files.values()
    assert uploaded.sha1 == job.archive_parts[0]["sha1"]
