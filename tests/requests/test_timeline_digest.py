"""The daily digest: account managers hear about their own late requests, the data team about
all of them, and nobody gets an empty email."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from requests_app import services
from requests_app.models import Status
from requests_app.notifications import timeline_digest
from requests_app.tasks import send_timeline_digest
from tests import factories
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db


def ready_days_ago(days: int, manager, name: str):
    with time_machine.travel(timezone.now() - timedelta(days=days), tick=False):
        return factories.export_request(
            status=Status.READY, practice_=factories.practice(manager, name=name)
        )


def test_managers_get_their_own_late_requests_and_the_data_team_gets_all():
    avery, blake = factories.account_manager(), factories.account_manager()
    dana, drew = factories.data_member(), factories.data_member()
    at_risk = ready_days_ago(30, avery, "Maple Grove")
    overdue = ready_days_ago(60, blake, "Harbor Pediatrics")
    on_track = ready_days_ago(5, avery, "Summit Cardiology")
    mail.outbox.clear()

    assert timeline_digest(timezone.now()) == 3

    by_recipients = {tuple(sorted(m.to)): m for m in delivered_mail()}
    to_avery = by_recipients[(avery.email,)]
    to_blake = by_recipients[(blake.email,)]
    to_data_team = by_recipients[tuple(sorted([dana.email, drew.email]))]

    assert at_risk.reference in to_avery.body and overdue.reference not in to_avery.body
    assert to_avery.subject == "Export timeline: 0 overdue, 1 at risk (your practices)"
    assert overdue.reference in to_blake.body and at_risk.reference not in to_blake.body
    assert "Overdue (past the promised date)" in to_blake.body and "4 days ago" in to_blake.body
    assert at_risk.reference in to_data_team.body and overdue.reference in to_data_team.body
    assert to_data_team.subject == "Export timeline: 1 overdue, 1 at risk (all practices)"
    for message in delivered_mail():
        assert on_track.reference not in message.body
        assert "Jordan Reyes" not in message.body  # the point of contact stays out of it


def test_delivered_cancelled_and_not_started_requests_are_left_out():
    manager = factories.account_manager()
    factories.data_member()
    late = ready_days_ago(40, manager, "Late Practice")
    late_but_cancelled = ready_days_ago(40, manager, "Cancelled Practice")
    services.export_request_cancel(
        export_request_id=late_but_cancelled.pk, actor=manager, reason="Withdrawn"
    )
    with time_machine.travel(timezone.now() - timedelta(days=70), tick=False):
        factories.export_request(status=Status.ADDENDUM_SENT, practice_=factories.practice(manager))
    mail.outbox.clear()

    timeline_digest(timezone.now())

    bodies = "\n".join(m.body for m in delivered_mail())
    assert late.reference in bodies
    assert late_but_cancelled.reference not in bodies
    assert bodies.count("EXP-") == 2  # the late one, once to the manager and once to the team


def test_nothing_late_means_no_email():
    ready_days_ago(3, factories.account_manager(), "Fresh Practice")
    factories.data_member()
    mail.outbox.clear()
    assert timeline_digest(timezone.now()) == 0
    assert delivered_mail() == []


def test_the_beat_task_is_registered_under_its_schedule_name_and_sends_the_digest():
    from exportportal.celery import app

    manager = factories.account_manager()
    ready_days_ago(60, manager, "Overdue Practice")
    mail.outbox.clear()
    assert send_timeline_digest.name == "requests_app.send_timeline_digest"
    assert "requests_app.send_timeline_digest" in app.tasks
    assert send_timeline_digest.apply().get() == 1  # no data-team member: the manager only
    assert delivered_mail()[0].to == [manager.email]
