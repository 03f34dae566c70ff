"""A task queued by the portal runs in a real worker process, through the configured broker
(the embedded filesystem broker by default, Redis when CELERY_BROKER_URL says so)."""

import pytest
from django.conf import settings

from exports.models import WorkerHeartbeat
from exports.tasks import worker_heartbeat
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_a_queued_task_runs_in_a_real_worker_and_writes_to_the_database(celery_worker_process):
    assert not WorkerHeartbeat.objects.exists()

    worker_heartbeat.delay()

    heartbeat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(
            hostname__startswith=celery_worker_process.name
        ).first(),
        message="the worker's heartbeat row",
    )
    assert heartbeat.is_alive()
    assert (
        f"Connected to {settings.CELERY_BROKER_URL.split('://')[0]}://"
        in celery_worker_process.log()
    )
