"""`make run`'s demo data: every state a newcomer should see, a delivered export whose archive
opens with its password, and an expired one with the proof of its deletion; seeded quickly
and once."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
import pyzipper
from django.core.management import call_command

from exports.models import ExportJob
from requests_app.models import ExportRequest, Status

pytestmark = pytest.mark.django_db(transaction=True)

#: running states only a live run passes through (a worker moves them on within seconds)
TRANSIENT = {Status.EXTRACTING, Status.PACKAGING, Status.UPLOADING}


@pytest.fixture
def seeded(export_dirs):
    started = time.monotonic()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return time.monotonic() - started


def test_the_demo_holds_every_state_and_is_seeded_once_quickly(seeded):
    assert seeded < 30
    statuses = set(ExportRequest.objects.values_list("status", flat=True))
    assert statuses == set(Status.values) - TRANSIENT
    requests = ExportRequest.objects.count()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ExportRequest.objects.count() == requests


def test_the_delivered_demo_archive_opens_with_its_password(seeded):
    delivered = ExportRequest.objects.get(status=Status.DELIVERED)
    job = ExportJob.objects.get(request=delivered, finished_at__isnull=True)
    receipt = job.delivery_receipt
    [part] = [Path(receipt["location_id"]) / f["name"] for f in receipt["files"]]
    with pyzipper.AESZipFile(part) as archive:
        archive.setpassword(job.archive_password.encode())
        [contents] = archive.namelist()
        inner = zipfile.ZipFile(io.BytesIO(archive.read(contents)))
    assert inner.testzip() is None
    assert any(name.endswith(".xlsx") for name in inner.namelist())


def test_the_expired_demo_request_carries_its_deletion_evidence(seeded):
    expired = ExportRequest.objects.get(status=Status.EXPIRED)
    actions = set(expired.events.values_list("action", flat=True))
    assert {"delivery.expired", "deletion.completed"} <= actions
