"""The pipeline end to end on a real worker and broker: ready to delivered, resumably."""

import hashlib
from pathlib import Path

import pytest

from exports import connections, pipeline
from exports.models import BatchStatus, ExportJob, Stage
from requests_app.models import ExportRequest, Status
from tests.factories import data_member, export_request, pass_connection_test
from tests.integration.conftest import wait_for, wait_for_delivery_emails

pytestmark = pytest.mark.integration


def status_of(request_id: int) -> str:
    return ExportRequest.objects.values_list("status", flat=True).get(pk=request_id)


def claimed_demo_request(patients: int = 12, seed: int = 7):
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    connections.source_connect_demo(
        export_request_id=request.pk, actor=member, patients=patients, seed=seed
    )
    pass_connection_test(request, member)
    return request, member


def test_a_demo_practice_goes_from_claimed_to_delivered(celery_worker_process, pipeline_settings):
    request, member = claimed_demo_request()

    pipeline.pipeline_start(export_request_id=request.pk, actor=member)
    wait_for(
        lambda: status_of(request.pk) == Status.AWAITING_REVIEW,
        timeout=240,
        message="awaiting review",
    )

    job = ExportJob.objects.get(request=request)
    assert job.patient_count == 12
    assert set(job.batches.values_list("status", flat=True)) == {BatchStatus.DONE}
    assert job.batches.count() == 3  # 12 patients in batches of 4
    assert job.reconciliation["is_balanced"]
    patients_line = next(line for line in job.reconciliation["lines"] if line["key"] == "patients")
    assert patients_line["in_source"] == patients_line["exported"] == 12
    assert job.records_failed > 0  # the demo's corrupt image and damaged files are reported
    [part] = job.archive_parts
    archive = Path(part["path"])
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == part["sha256"]

    pipeline.pipeline_approve(export_request_id=request.pk, actor=member, acknowledge_failures=True)
    wait_for(lambda: status_of(request.pk) == Status.DELIVERED, timeout=120, message="delivered")

    job.refresh_from_db()
    assert job.stage == Stage.DELIVERED
    assert job.stage_worker.startswith(f"{celery_worker_process.name}@")  # shown while it runs
    delivered = (
        Path(pipeline_settings["EXPORT_LOCAL_DELIVERY_DIR"]) / request.reference / archive.name
    )
    assert hashlib.sha256(delivered.read_bytes()).hexdigest() == part["sha256"]
    wait_for(lambda: not Path(job.staging_dir).exists(), message="staging removed after delivery")
    actions = list(request.events.values_list("action", flat=True))
    assert actions[-7:] == [
        "pipeline.started", "pipeline.extracted", "pipeline.packaged", "pipeline.approved",
        "pipeline.delivered", "delivery.uploaded", "delivery.access_granted",
    ]  # fmt: skip
    emails = wait_for_delivery_emails(pipeline_settings)
    assert "To: poc@example.org" in emails and "is ready to download" in emails
    assert job.archive_password not in emails
