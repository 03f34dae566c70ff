"""Emails go through an outbox written with the step: a mail server that is down never fails a
step; the email is tried again later, and one that keeps failing is shown to admins, who can
send it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from exportportal.celery import app
from outbox import sending
from outbox.models import OutboundEmail
from outbox.tasks import send_outbound_email
from requests_app.models import ExportRequest, Status
from tests.factories import admin, sign_in
from tests.mail import delivered_mail
from tests.requests.cast import Cast, form_data

pytestmark = pytest.mark.django_db

REFUSING = "tests.mail.RefusingEmailBackend"
WORKING = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def eager_tasks():
    """The outbox's task runs in the test, as a worker would run it after the commit."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def record_the_fee(client, cast, export_request, capture):
    """The account manager records the fee on the request page: the request becomes ready and
    the data team is emailed."""
    sign_in(client, cast.manager)
    with capture(execute=True):
        return client.post(
            reverse("requests_app:action", args=[export_request.pk, "fee"]), form_data("fee")
        )


def queued() -> OutboundEmail:
    return sending.queue_email(
        kind="request_ready",
        subject="EXP-000001 is ready",
        body="Body",
        recipients=["a@example.org"],
    )


def test_a_step_completes_while_the_mail_server_is_down_and_its_email_goes_later(
    client, settings, django_capture_on_commit_callbacks
):
    cast = Cast.create()
    export_request = cast.request(Status.ADDENDUM_SIGNED)
    settings.EMAIL_BACKEND = REFUSING

    response = record_the_fee(client, cast, export_request, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert ExportRequest.objects.get(pk=export_request.pk).status == Status.READY
    [email] = OutboundEmail.objects.all()
    assert email.state == OutboundEmail.State.PENDING and email.attempts == 1
    assert email.last_error == "SMTPConnectError (SMTP 421)"
    assert mail.outbox == []

    settings.EMAIL_BACKEND = WORKING
    assert sending.send_due_emails(now=timezone.now()) == 0, "not before its retry is due"
    assert sending.send_due_emails(now=email.next_attempt_at) == 1

    [message] = mail.outbox
    assert export_request.reference in message.subject
    assert sorted(message.to) == sorted([cast.claimant.email, cast.data.email])
    assert OutboundEmail.objects.get().state == OutboundEmail.State.SENT


def test_the_email_is_written_with_the_step_and_disappears_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        queued()
        raise RuntimeError("the step failed after queuing its email")
    assert not OutboundEmail.objects.exists()


def test_a_broker_outage_leaves_the_email_for_the_sweep(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(send_outbound_email, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        queued()
    assert OutboundEmail.objects.get().state == OutboundEmail.State.PENDING

    assert sending.send_due_emails() == 1
    assert len(mail.outbox) == 1


def test_waits_between_attempts_double(settings):
    settings.OUTBOX_RETRY_BACKOFF_SECONDS = 30
    assert [sending.retry_wait_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert sending.retry_wait_seconds(20) == 3600


def test_an_email_that_keeps_failing_is_marked_failed_and_stops(settings):
    settings.EMAIL_BACKEND = REFUSING
    settings.OUTBOX_MAX_ATTEMPTS = 3
    email = queued()
    now = timezone.now()
    for _ in range(5):
        sending.send_email(email.pk, now=now)
        now += timedelta(hours=2)
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.FAILED and email.attempts == 3
    assert sending.send_due_emails(now=now + timedelta(days=1)) == 0


def test_an_email_is_sent_once_however_often_it_is_asked_for():
    email = queued()
    assert sending.send_email(email.pk).state == OutboundEmail.State.SENT
    assert sending.send_email(email.pk).state is None
    assert sending.send_due_emails() == 0
    assert len(delivered_mail()) == 1


def test_an_email_being_sent_is_not_sent_by_another_worker_until_it_is_abandoned():
    email = queued()
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENDING, claimed_at=timezone.now()
    )
    assert sending.send_email(email.pk).state is None
    assert sending.send_due_emails() == 0
    assert sending.send_due_emails(now=timezone.now() + timedelta(minutes=11)) == 1


def test_a_send_abandoned_on_its_last_attempt_is_marked_failed(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    email = queued()
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENDING, claimed_at=timezone.now(), attempts=2
    )
    assert sending.send_due_emails(now=timezone.now() + timedelta(minutes=11)) == 0
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.FAILED
    assert email.last_error == "abandoned while sending"


def test_admins_see_failed_emails_and_send_one_again(client, settings):
    settings.EMAIL_BACKEND = REFUSING
    settings.OUTBOX_MAX_ATTEMPTS = 1
    email = queued()
    sending.send_email(email.pk)
    sign_in(client, admin())

    listing = client.get(reverse("admin:outbox_outboundemail_changelist") + "?state=failed")
    assert listing.status_code == 200 and "EXP-000001 is ready" in listing.content.decode()
    page = client.get(reverse("admin:outbox_outboundemail_change", args=[email.pk]))
    assert "Send again" in page.content.decode()

    settings.EMAIL_BACKEND = WORKING
    response = client.post(reverse("admin:outbox_outboundemail_resend", args=[email.pk]))
    assert response.status_code == 302
    assert OutboundEmail.objects.get(pk=email.pk).attempts == 0, "a full set of attempts again"
    sending.send_due_emails()  # what the worker does once the resend commits
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT and len(mail.outbox) == 1


def test_only_admins_may_send_again(client):
    email = queued()
    OutboundEmail.objects.filter(pk=email.pk).update(state=OutboundEmail.State.FAILED)
    cast = Cast.create()
    sign_in(client, cast.manager)
    response = client.post(reverse("admin:outbox_outboundemail_resend", args=[email.pk]))
    assert response.status_code in (302, 403)
    assert OutboundEmail.objects.get(pk=email.pk).state == OutboundEmail.State.FAILED
