"""The staging disk fills up while an export is archived: the request fails with a message that
says so, nothing is delivered or left half-written, and once space is freed a retry finishes
the export. The disk is a real, small tmpfs (mounting one needs root, as CI has); a worker probe
fills it just as the archive begins (tests/integration/probes.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from exports import pipeline
from exports.models import ExportJob, Stage
from exports.pipeline.staging import ARCHIVE_FOLDER
from requests_app.models import Status
from tests import factories
from tests.deliverable.deliverable_helpers import extract_with_seven_zip
from tests.integration.conftest import purge_queues, start_worker, wait_for
from tests.integration.test_pipeline import claimed_demo_request, status_of
from tests.integration.test_pipeline_faults import uninterrupted_manifest

pytestmark = pytest.mark.integration

PATIENTS = 12
DISK_BYTES = 32 * 1024 * 1024
DISK_FULL = "The staging disk is full. Free space (or grow the volume), then retry."


@pytest.fixture
def staging_disk(tmp_path, settings, pipeline_settings) -> Iterator[Path]:
    """A tmpfs of its own for staging, in this process's settings and the worker's."""
    mount_point = tmp_path / "staging-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    settings.EXPORT_STAGING_DIR = mount_point
    pipeline_settings["EXPORT_STAGING_DIR"] = str(mount_point)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def test_a_full_staging_disk_fails_clearly_and_a_retry_after_freeing_space_delivers(
    transactional_db, pipeline_settings, staging_disk, tmp_path
):
    request, member = claimed_demo_request(patients=PATIENTS)
    ballast = staging_disk / "another-tenants-files"
    delivery = Path(pipeline_settings["EXPORT_LOCAL_DELIVERY_DIR"])
    purge_queues()
    worker = start_worker(
        tmp_path, extra_env={**pipeline_settings, "PROBE_FILL_DISK_BEFORE_ARCHIVE": str(ballast)}
    )
    try:
        pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(lambda: status_of(request.pk) == Status.FAILED, timeout=240, message="failed")

        job = ExportJob.objects.get(request=request)
        assert ballast.exists(), "the disk was filled as the archive began"
        assert (job.failed_stage, job.error) == (Stage.PACKAGING, DISK_FULL)
        assert job.archive_parts == []
        assert list((Path(job.staging_dir) / ARCHIVE_FOLDER).iterdir()) == []
        assert not delivery.exists() or not any(delivery.rglob("*"))
        assert not request.events.filter(action="pipeline.delivered").exists()
        client = Client()
        factories.sign_in(client, member)
        page = client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()
        assert DISK_FULL in page

        ballast.unlink()
        pipeline.pipeline_retry(export_request_id=request.pk, actor=member)
        wait_for(lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240)
        pipeline.pipeline_approve(
            export_request_id=request.pk, actor=member, acknowledge_failures=True
        )
        wait_for(lambda: status_of(request.pk) == Status.DELIVERED, timeout=120)
    finally:
        worker.stop()

    job.refresh_from_db()
    [part] = job.archive_parts
    delivered = delivery / request.reference / Path(part["path"]).name
    [root] = extract_with_seven_zip(delivered, job.archive_password, tmp_path / "opened").iterdir()
    expected = uninterrupted_manifest(job, tmp_path)
    assert (root / "Clinical Data Export" / "manifest.csv").read_text() == expected
