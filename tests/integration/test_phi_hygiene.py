"""No PHI and no secret leaves through the side doors: an export runs on a real worker, then its
log, the task messages, the pages and the emails are searched for the practice's patient names,
dates of birth and the archive password. None may appear."""

from __future__ import annotations

import json

import pytest
from celery.signals import before_task_publish
from django.test import Client
from django.urls import reverse

from exports import pipeline
from exports.models import ExportJob
from exports.sources.demo import DemoSource
from requests_app.models import Status
from tests import factories
from tests.integration.conftest import purge_queues, start_worker, wait_for, worker_emails
from tests.integration.test_pipeline import claimed_demo_request, status_of

pytestmark = pytest.mark.integration

PATIENTS, SEED = 12, 7


def planted_phi() -> set[str]:
    """What must never leak: each demo patient's full name, surname and date of birth."""
    needles: set[str] = set()
    with DemoSource(patients=PATIENTS, seed=SEED) as source:
        for record in source.read_patients(source.patient_ids()):
            patient = record.demographics
            needles.add(f"{patient.first_name} {patient.last_name}")
            if len(patient.last_name) >= 5:  # shorter ones match ordinary words
                needles.add(patient.last_name)
            if patient.date_of_birth:
                needles.add(patient.date_of_birth.isoformat())
    return needles


@pytest.fixture
def published_messages():
    """Every task message this process publishes: its headers and body, as sent."""
    messages: list[dict] = []

    def capture(sender=None, body=None, headers=None, **kwargs):
        messages.append({"task": sender, "headers": headers, "body": body})

    before_task_publish.connect(capture, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(capture)


def test_an_export_leaks_no_phi_or_secret_to_logs_messages_pages_or_emails(
    transactional_db, tmp_path, pipeline_settings, published_messages
):
    purge_queues()
    worker = start_worker(tmp_path, extra_env={**pipeline_settings, "LOG_FORMAT": "json"})
    try:
        request, member = claimed_demo_request(patients=PATIENTS, seed=SEED)
        pipeline.pipeline_start(export_request_id=request.pk, actor=member)
        wait_for(lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240)
        pipeline.pipeline_approve(
            export_request_id=request.pk, actor=member, acknowledge_failures=True
        )
        wait_for(lambda: status_of(request.pk) == Status.DELIVERED, timeout=120)
        emails = wait_for(lambda: worker_emails(pipeline_settings), message="emails")
    finally:
        worker.stop()

    password = ExportJob.objects.get(request=request).archive_password
    assert password
    pages = []
    for user in (member, factories.admin()):
        client = Client()
        factories.sign_in(client, user)
        for url in (
            reverse("requests_app:detail", args=[request.pk]),
            reverse("exports:pipeline-panel", args=[request.pk]),
            reverse("requests_app:dashboard-data-team"),
        ):
            pages.append(client.get(url).content.decode())
    admin = Client()
    factories.sign_in(admin, factories.admin())
    pages.append(admin.get(reverse("requests_app:audit")).content.decode())
    pages.append(b"".join(admin.get(reverse("requests_app:audit-csv")).streaming_content).decode())

    log = worker.log()
    json_lines = [line for line in log.splitlines() if line.startswith("{")]
    assert json_lines and all(json.loads(line).keys() >= {"task_id"} for line in json_lines)
    assert any(json.loads(line)["task_id"] for line in json_lines)  # task ids are stamped
    assert published_messages, "no task message was captured"
    for message in published_messages:  # tasks take ids only
        body_args, body_kwargs = message["body"][0], message["body"][1]
        assert all(isinstance(value, int) for value in body_args), message["task"]
        assert all(isinstance(value, int | bool) for value in body_kwargs.values())
    messages = json.dumps(published_messages, default=str)

    haystacks = {"worker log": log, "task messages": messages, "emails": emails}
    haystacks.update({f"page {number}": page for number, page in enumerate(pages)})
    needles = planted_phi() | {password}
    assert len(needles) > 2 * PATIENTS  # names, surnames and dates of birth were planted
    leaks = {
        (where, needle) for where, text in haystacks.items() for needle in needles if needle in text
    }
    assert leaks == set()
