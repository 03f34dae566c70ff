"""No PHI and no secret leaves through the side doors. An export runs on a real worker, then the
worker's and the portal's logs, every task message (those this process sent and those the
worker sent itself), the pages, the emails and the error page are searched for the practice's
patient names, dates of birth, the archive password and the DrChrono credentials. None may
appear."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.test import Client
from django.urls import reverse

from exports import pipeline
from exports.models import ExportJob
from exports.sources.demo import DemoSource
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, FakeDrChrono
from tests.integration.conftest import (
    WorkerProcess,
    purge_queues,
    start_worker,
    wait_for,
    wait_for_delivery_emails,
)
from tests.integration.test_pipeline import claimed_demo_request, status_of

pytestmark = pytest.mark.integration

PATIENTS, SEED = 12, 7
DRCHRONO_ACCESS_TOKEN = "drc-access-token-5b7e1f0c9a"
DRCHRONO_REFRESH_TOKEN = "drc-refresh-token-d24c88e61f"


def demo_phi() -> set[str]:
    with DemoSource(patients=PATIENTS, seed=SEED) as source:
        return phi_of(
            (p.first_name, p.last_name, p.date_of_birth and p.date_of_birth.isoformat())
            for p in (record.demographics for record in source.read_patients(source.patient_ids()))
        )


def drchrono_phi(fake: FakeDrChrono) -> set[str]:
    return phi_of(
        (p["first_name"], p["last_name"], p["date_of_birth"])
        for p in fake.practice.objects("patients")
    )


def phi_of(patients) -> set[str]:
    """What must never leak: each patient's full name, surname and date of birth."""
    needles: set[str] = set()
    for first_name, last_name, date_of_birth in patients:
        needles.add(f"{first_name} {last_name}")
        if len(last_name) >= 5:  # shorter ones match ordinary words
            needles.add(last_name)
        if date_of_birth:
            needles.add(date_of_birth)
    return needles


@dataclass
class TaskMessages:
    """Every task message published while a test runs: by this process, caught here, and by
    the worker, whose probe writes them to ``worker_file`` (start it with ``probe_env``)."""

    sent_here: list[dict]
    worker_file: Path

    @property
    def probe_env(self) -> dict[str, str]:
        return {"PROBE_PUBLISHED_MESSAGES_FILE": str(self.worker_file)}

    def from_worker(self) -> list[dict]:
        lines = self.worker_file.read_text().splitlines() if self.worker_file.exists() else []
        return [json.loads(line) for line in lines]

    def all(self) -> list[dict]:
        return self.sent_here + self.from_worker()


@pytest.fixture
def task_messages(tmp_path) -> Iterator[TaskMessages]:
    messages = TaskMessages(sent_here=[], worker_file=tmp_path / "worker-published.jsonl")

    def capture(sender=None, body=None, headers=None, **kwargs):
        messages.sent_here.append({"task": sender, "headers": headers, "body": body})

    before_task_publish.connect(capture, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(capture)


def run_to_delivery(request: ExportRequest, member, *, start) -> None:
    """``start()`` the export, approve it at review, wait until it is delivered."""
    start()
    wait_for(lambda: status_of(request.pk) == Status.AWAITING_REVIEW, timeout=240)
    pipeline.pipeline_approve(export_request_id=request.pk, actor=member, acknowledge_failures=True)
    wait_for(lambda: status_of(request.pk) == Status.DELIVERED, timeout=120)


def pages_about(request: ExportRequest, member) -> list[str]:
    """What the data team and an admin see of the request once it is delivered."""
    pages = []
    admin = factories.admin()
    for user in (member, admin):
        client = Client()
        factories.sign_in(client, user)
        for url in (
            reverse("requests_app:detail", args=[request.pk]),
            reverse("requests_app:live", args=[request.pk]),
            reverse("requests_app:dashboard-data-team"),
        ):
            pages.append(client.get(url).content.decode())
    client = Client()
    factories.sign_in(client, admin)
    pages.append(client.get(reverse("requests_app:audit")).content.decode())
    pages.append(b"".join(client.get(reverse("requests_app:audit-csv")).streaming_content).decode())
    pages.append(
        client.get(
            reverse("admin:requests_app_exportrequest_change", args=[request.pk])
        ).content.decode()
    )
    return pages


def assert_nothing_leaks(
    needles: set[str],
    *,
    worker: WorkerProcess,
    portal_log: str,
    messages: list[dict],
    emails: str,
    pages: list[str],
) -> None:
    log = worker.log()
    json_lines = [line for line in log.splitlines() if line.startswith("{")]
    assert json_lines and all(json.loads(line).keys() >= {"task_id"} for line in json_lines)
    assert any(json.loads(line)["task_id"] for line in json_lines)  # task ids are stamped
    for message in messages:  # tasks take ids only
        body_args, body_kwargs = message["body"][0], message["body"][1]
        assert all(isinstance(value, int) for value in body_args), message["task"]
        assert all(isinstance(value, int | bool) for value in body_kwargs.values())
    haystacks = {
        "worker log": log,
        "portal log": portal_log,
        "task messages": json.dumps(messages, default=str),
        "emails": emails,
    }
    haystacks.update({f"page {number}": page for number, page in enumerate(pages)})
    leaks = {
        (where, needle) for where, text in haystacks.items() for needle in needles if needle in text
    }
    assert leaks == set()


def test_a_demo_export_leaks_no_phi_or_archive_password(
    transactional_db, tmp_path, pipeline_settings, task_messages, caplog
):
    caplog.set_level(logging.INFO)
    purge_queues()
    worker = start_worker(
        tmp_path,
        extra_env={**pipeline_settings, **task_messages.probe_env, "LOG_FORMAT": "json"},
    )
    try:
        request, member = claimed_demo_request(patients=PATIENTS, seed=SEED)
        run_to_delivery(
            request,
            member,
            start=lambda: pipeline.pipeline_start(export_request_id=request.pk, actor=member),
        )
        emails = wait_for_delivery_emails(pipeline_settings)
    finally:
        worker.stop()

    sent_by_worker = {message["task"] for message in task_messages.from_worker()}
    assert {"exports.extract_patients", "exports.package_export"} <= sent_by_worker
    password = ExportJob.objects.get(request=request).archive_password
    assert password
    needles = demo_phi() | {password}
    assert len(needles) > 2 * PATIENTS  # names, surnames and dates of birth were planted
    assert_nothing_leaks(
        needles,
        worker=worker,
        portal_log=caplog.text,
        messages=task_messages.all(),
        emails=emails,
        pages=pages_about(request, member),
    )


def post_action(client: Client, request: ExportRequest, action: str, fields=None) -> str:
    """Press a button on the request page; returns the page it comes back to."""
    response = client.post(
        reverse("requests_app:action", args=[request.pk, action]),
        {f"{action}-{name}": value for name, value in (fields or {}).items()},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_drchrono_credentials_appear_nowhere_from_connecting_to_delivery(
    transactional_db, tmp_path, pipeline_settings, task_messages, settings, caplog
):
    caplog.set_level(logging.INFO)
    with FakeDrChrono() as fake:
        fake.access_token, fake.refresh_token = DRCHRONO_ACCESS_TOKEN, DRCHRONO_REFRESH_TOKEN
        drchrono = {"DRCHRONO_API_BASE_URL": fake.base_url, "DRCHRONO_TOKEN_URL": fake.token_url}
        for name, value in drchrono.items():  # the connection test runs in this process
            setattr(settings, name, value)
        member = factories.data_member()
        request = factories.export_request(status=Status.CLAIMED, claimed_by=member)
        client = Client()
        factories.sign_in(client, member)
        credentials = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "access_token": DRCHRONO_ACCESS_TOKEN,
            "refresh_token": DRCHRONO_REFRESH_TOKEN,
            "expires_at": "2100-01-01 00:00",
        }
        pages = [post_action(client, request, "connect-drchrono", credentials)]
        fake.fail("/api/patients", 403, times=1)
        refused = post_action(client, request, "test-connection")
        assert "refused the request (HTTP 403)" in refused  # the error page the data team sees
        pages.append(refused)
        pages.append(post_action(client, request, "test-connection"))  # passes: Start is offered
        fake.expire_access_token()  # the worker must renew it: client secret and refresh token
        purge_queues()
        worker = start_worker(
            tmp_path,
            extra_env={
                **pipeline_settings,
                **task_messages.probe_env,
                **drchrono,
                "LOG_FORMAT": "json",
            },
        )
        try:
            run_to_delivery(
                request,
                member,
                start=lambda: pages.append(post_action(client, request, "start-extraction")),
            )
            emails = wait_for_delivery_emails(pipeline_settings)
        finally:
            worker.stop()

    assert [r for r in fake.requests if r.path == "/o/token/"], "the worker renewed the token"
    secrets = {
        CLIENT_SECRET,
        DRCHRONO_ACCESS_TOKEN,
        DRCHRONO_REFRESH_TOKEN,
        fake.access_token,  # the renewed pair
        fake.refresh_token,
        ExportJob.objects.get(request=request).archive_password,
    }
    assert_nothing_leaks(
        secrets | drchrono_phi(fake),
        worker=worker,
        portal_log=caplog.text,
        messages=task_messages.all(),
        emails=emails,
        pages=pages + pages_about(request, member),
    )
