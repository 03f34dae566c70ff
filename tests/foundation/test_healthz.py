"""/healthz answers without a sign-in, in JSON, whether the database, the broker, staging and a
worker are there; 503 names what is missing and nothing else."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "broker": "ok", "staging": "ok", "worker": "ok"}


@pytest.fixture(autouse=True)
def _staging(settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"


def worker_seen(seconds_ago: int) -> None:
    WorkerHeartbeat.objects.create(
        hostname="celery@portal-1", last_seen=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_a_healthy_deployment_answers_ok_to_anyone(client):
    worker_seen(30)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": ALL_OK}
    assert "no-store" in response["Cache-Control"]


def test_no_worker_seen_recently_is_a_failure(client, settings):
    worker_seen(settings.HEALTH_WORKER_SEEN_SECONDS + 5)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["worker"].startswith("none seen")


def test_staging_that_cannot_be_written_is_a_failure(client, settings, tmp_path):
    worker_seen(1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.EXPORT_STAGING_DIR = blocker / "staging"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "staging": "not writable"}


def test_an_unreachable_broker_is_a_failure_without_its_address(client, settings):
    worker_seen(1)
    settings.CELERY_BROKER_URL = "redis://:s3cret@127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"
    assert (
        "s3cret" not in response.content.decode() and "127.0.0.1" not in response.content.decode()
    )


def test_only_get_is_answered(client):
    assert client.post(reverse("healthz")).status_code == 405
