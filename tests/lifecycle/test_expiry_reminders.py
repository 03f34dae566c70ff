"""Reminders 7 days and 1 day before access ends: each once, however often the pass runs."""

from datetime import timedelta

import pytest
from django.core import mail

from exports import tasks
from exports.lifecycle import REMINDER_SENT, reminder_due
from tests.lifecycle.conftest import DELIVERY_TIME
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db

EXPIRY = DELIVERY_TIME + timedelta(days=60)


def run_pass() -> list[str]:
    """Run the scheduled pass; return the subjects of the emails it sent."""
    mail.outbox.clear()
    tasks.run_delivery_lifecycle.delay()
    return [message.subject for message in delivered_mail()]


def reminders(export_request) -> list[dict]:
    return [e.details for e in export_request.events.filter(action=REMINDER_SENT)]


def test_it_reminds_the_manager_and_the_contact_7_days_and_1_day_before_access_ends_once_each(
    clock, django_capture_on_commit_callbacks
):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)
    assert export_request.access_expires_at == EXPIRY

    clock.move_to(EXPIRY - timedelta(days=7, hours=1))
    assert run_pass() == []

    clock.move_to(EXPIRY - timedelta(days=6, hours=23))
    subjects = run_pass()
    assert sorted(subjects) == sorted(
        [
            "Your data export ends in 7 days",
            f"{export_request.reference}: the customer's access ends in 7 days",
        ]
    )
    recipients = sorted(address for message in delivered_mail() for address in message.to)
    assert recipients == sorted(
        [export_request.poc_email, export_request.practice.account_manager.email]
    )
    assert run_pass() == [], "the same day again: nothing twice"

    clock.move_to(EXPIRY - timedelta(days=3))
    assert run_pass() == []

    clock.move_to(EXPIRY - timedelta(hours=20))
    assert "Your data export ends in 1 day" in run_pass()
    assert run_pass() == []

    assert [(r["mark"], r["days_left"]) for r in reminders(export_request)] == [(7, 7), (1, 1)]


def test_a_pass_that_missed_the_7_day_mark_sends_only_the_1_day_reminder(
    clock, django_capture_on_commit_callbacks
):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)

    clock.move_to(EXPIRY - timedelta(hours=5))
    assert "Your data export ends in 1 day" in run_pass()

    assert [r["mark"] for r in reminders(export_request)] == [1]


def test_reminders_stop_once_access_has_ended():
    assert reminder_due(EXPIRY, EXPIRY) is None
    assert reminder_due(EXPIRY, EXPIRY + timedelta(days=1)) is None
    assert reminder_due(EXPIRY, EXPIRY - timedelta(days=8)) is None
    assert reminder_due(EXPIRY, EXPIRY - timedelta(days=7)).mark == 7
    assert reminder_due(EXPIRY, EXPIRY - timedelta(days=1)).mark == 1
