"""The pipeline survives what production throws at it: killed workers, a restarted broker, a
lost database connection, several workers at once. The finished export is the same as an
uninterrupted one."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from exports import pipeline, stages
from exports.models import BatchStatus, ExportJob, ExtractBatch
from exports.sources.demo import DemoSource
from requests_app.models import Status
from tests.integration.conftest import (
    RETRIES_WITHOUT_SWEEPER,
    purge_queues,
    start_worker,
    wait_for,
)
from tests.integration.test_pipeline import claimed_demo_request, status_of

pytestmark = pytest.mark.integration

PATIENTS = 40  # ten batches of four


def manifest_of(job: ExportJob) -> str:
    [manifest] = (Path(job.staging_dir) / "tree").glob("*/Clinical Data Export/manifest.csv")
    return manifest.read_text()


def uninterrupted_manifest(job: ExportJob, tmp_path: Path) -> str:
    """The same export run straight through in this process, for comparison."""
    context = pipeline.export_context(job)
    source = DemoSource(patients=job.patient_count, seed=7, practice_name=context.practice_name,
                        large_document_bytes=settings.EXPORT_DEMO_LARGE_DOCUMENT_BYTES)  # fmt: skip
    staging = tmp_path / "uninterrupted"
    numbers = []
    for number, ids in enumerate(stages.plan_batches(source, settings.EXPORT_BATCH_SIZE), start=1):
        stages.run_batch(source, context, ids, staging, number)
        numbers.append(number)
    packaged = stages.run_package(source, context, staging, numbers)
    return (packaged.root / "Clinical Data Export" / "manifest.csv").read_text()


def sweep_until(condition, *, timeout: float, message: str):
    """What beat does every minute, done every second so the test is quick."""

    def swept():
        pipeline.sweep_stale_work()
        return condition()

    return wait_for(swept, timeout=timeout, interval=1, message=message)


def test_a_worker_killed_mid_extraction_loses_nothing(
    transactional_db, pipeline_settings, tmp_path
):
    purge_queues()
    request, member = claimed_demo_request(patients=PATIENTS)
    held = tmp_path / "held-mid-batch"
    first = start_worker(
        tmp_path, extra_env={**pipeline_settings, "PROBE_HOLD_MID_BATCH_MARKER": str(held)}
    )
    try:
        job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(held.exists, message="the worker inside its second batch")
        [killed_batch] = ExtractBatch.objects.filter(
            job=job, status=BatchStatus.RUNNING
        ).values_list("pk", flat=True)
        assert ExtractBatch.objects.filter(job=job, status=BatchStatus.DONE).count() == 1
    finally:
        first.kill()
    assert status_of(request.pk) == Status.EXTRACTING
    assert ExtractBatch.objects.filter(job=job).exclude(status=BatchStatus.DONE).exists()

    second = start_worker(tmp_path, extra_env=pipeline_settings)
    try:
        sweep_until(
            lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240, message="review"
        )
    finally:
        second.stop()

    job.refresh_from_db()
    assert job.reconciliation["is_balanced"]
    assert ExtractBatch.objects.get(pk=killed_batch).runs >= 2, "the killed batch ran again"
    assert manifest_of(job) == uninterrupted_manifest(job, tmp_path)


def test_a_database_connection_lost_mid_extraction_is_retried_and_loses_nothing(
    transactional_db, pipeline_settings, tmp_path
):
    purge_queues()
    request, member = claimed_demo_request(patients=PATIENTS)
    cut = tmp_path / "database-connection-cut"
    worker = start_worker(
        tmp_path,
        extra_env={
            **pipeline_settings,
            **RETRIES_WITHOUT_SWEEPER,
            "PROBE_CUT_DATABASE_MARKER": str(cut),
        },
    )
    try:
        job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(
            lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240, message="review"
        )
    finally:
        worker.stop()

    assert cut.exists(), "the connection was cut"
    assert "Retry in" in worker.log() and "OperationalError" in worker.log()
    [rerun] = ExtractBatch.objects.filter(job=job, runs__gt=1)
    assert rerun.runs == 2 and rerun.last_error == ""
    assert not request.events.filter(action="pipeline.failed").exists()
    job.refresh_from_db()
    assert job.reconciliation["is_balanced"]
    assert manifest_of(job) == uninterrupted_manifest(job, tmp_path)


def test_two_workers_share_one_exports_batches(transactional_db, pipeline_settings, tmp_path):
    purge_queues()
    request, member = claimed_demo_request(patients=PATIENTS)
    workers = [start_worker(tmp_path, extra_env=pipeline_settings) for _ in range(2)]
    try:
        job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(
            lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240, message="review"
        )
    finally:
        for worker in workers:
            worker.stop()
    hosts = set(ExtractBatch.objects.filter(job=job).values_list("worker", flat=True))
    assert {host.split("@")[0] for host in hosts} == {worker.name for worker in workers}
    assert ExportJob.objects.get(pk=job.pk).reconciliation["is_balanced"]


REDIS_SERVER = shutil.which("redis-server")


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://127.0.0.1") or REDIS_SERVER is None,
    reason="restarts the local Redis broker: runs when CELERY_BROKER_URL is a local redis:// (CI)",
)
def test_a_broker_restart_mid_run_loses_nothing(transactional_db, pipeline_settings, tmp_path):
    purge_queues()
    request, member = claimed_demo_request(patients=PATIENTS)
    worker = start_worker(tmp_path, extra_env=pipeline_settings)
    try:
        job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(
            lambda: ExtractBatch.objects.filter(job=job, status=BatchStatus.DONE).exists(),
            message="extraction under way",
        )
        # Redis here keeps nothing on disk: a restart loses every queued message.
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, timeout=30)
        time.sleep(1)
        subprocess.run(
            [REDIS_SERVER, "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
             "--save", "", "--appendonly", "no", "--dir", "/tmp"],
            check=True, timeout=30,
        )  # fmt: skip
        wait_for(
            lambda: (
                subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip()
                == "PONG"
            ),
            message="Redis back",
        )
        sweep_until(
            lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240, message="review"
        )
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.reconciliation["is_balanced"]
    assert manifest_of(job) == uninterrupted_manifest(job, tmp_path)
