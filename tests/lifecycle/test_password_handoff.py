"""The account manager reveals the passwords to pass them on by another channel: POST only,
never cached, audited, and never in an email or a log line."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from exports import tasks
from exports.models import ExportJob
from requests_app.models import RequestEvent, Status
from tests.factories import account_manager, admin, data_member, sign_in
from tests.lifecycle.conftest import DELIVERY_TIME
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db


def url(export_request) -> str:
    return reverse("exports:reveal-passwords", args=[export_request.pk])


@pytest.fixture
def box_delivery(fake_box, django_capture_on_commit_callbacks):
    job = uploading_job()
    export_request = delivered(job, django_capture_on_commit_callbacks)
    return export_request, ExportJob.objects.get(pk=job.pk)


def test_the_account_manager_reveals_both_passwords_once_and_the_reveal_is_audited(
    client, box_delivery
):
    export_request, job = box_delivery
    manager = export_request.practice.account_manager
    sign_in(client, manager)

    response = client.post(url(export_request))

    page = response.content.decode()
    assert response.status_code == 200
    assert job.archive_password in page and job.shared_link_password in page
    assert job.delivery_receipt["access"]["shared_link_url"] in page
    assert "no-store" in response["Cache-Control"]
    revealed = export_request.events.get(action="password.revealed")
    assert revealed.actor == manager
    assert revealed.details == {"job": job.pk, "passwords": ["archive", "shared_link"]}
    assert client.get(url(export_request)).status_code == 405, "never through a URL"


def test_htmx_gets_only_the_passwords_fragment(client, box_delivery):
    export_request, job = box_delivery
    sign_in(client, admin())
    response = client.post(url(export_request), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert job.archive_password in page and "<html" not in page


def test_other_managers_and_the_data_team_are_refused(client, box_delivery):
    export_request, job = box_delivery
    for person, status in ((account_manager(), 404), (data_member(), 403)):
        client.logout()
        sign_in(client, person)
        response = client.post(url(export_request))
        assert response.status_code == status
        assert job.archive_password not in response.content.decode()
    assert not export_request.events.filter(action="password.revealed").exists()


def test_there_is_nothing_to_reveal_before_delivery_or_after_expiry(
    client, clock, django_capture_on_commit_callbacks
):
    job = uploading_job()
    manager = job.request.practice.account_manager
    sign_in(client, manager)

    before = client.post(url(job.request), follow=True).content.decode()
    assert "only while the export is delivered" in before and job.archive_password not in before

    export_request = delivered(job, django_capture_on_commit_callbacks)
    clock.move_to(DELIVERY_TIME + timedelta(days=61))
    tasks.run_delivery_lifecycle.delay()
    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED

    sign_in(client, manager)  # the earlier session has long timed out
    after = client.post(url(export_request), follow=True).content.decode()
    assert "only while the export is delivered" in after and job.archive_password not in after
    assert not export_request.events.filter(action="password.revealed").exists()


def test_the_passwords_never_reach_an_email_a_log_line_or_an_event(
    client, clock, caplog, fake_box, django_capture_on_commit_callbacks
):
    caplog.set_level("DEBUG")
    job = uploading_job()
    with django_capture_on_commit_callbacks(execute=True):
        export_request = delivered(job, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    sign_in(client, export_request.practice.account_manager)
    client.post(url(export_request))
    for days in (53.5, 59.5, 60.5):  # both reminders, then the deletion
        clock.move_to(DELIVERY_TIME + timedelta(days=days))
        tasks.run_delivery_lifecycle.delay()
    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED

    secrets = (job.archive_password, job.shared_link_password)
    assert all(secrets) and len(delivered_mail()) >= 5  # instructions, delivered, 2 x 2 reminders
    for message in delivered_mail():
        assert not any(s in message.subject or s in message.body for s in secrets)
    assert not any(s in caplog.text for s in secrets)
    events = json.dumps(list(RequestEvent.objects.values("note", "details")))
    assert not any(s in events for s in secrets)


def test_the_passphrase_is_shown_whole_to_copy_and_word_by_word_to_read_out(client, box_delivery):
    export_request, job = box_delivery
    sign_in(client, export_request.practice.account_manager)

    page = client.post(url(export_request), headers={"HX-Request": "true"}).content.decode()

    words = job.archive_password.split("-")
    assert len(words) == 7
    listed = "".join(f"<li>{word}</li>" for word in words)
    assert listed in page, "the words, in order, one list item each"
    assert 'data-copy-from="archive-password"' in page
