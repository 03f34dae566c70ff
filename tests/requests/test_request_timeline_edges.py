"""The 4-8 week promise at its edges: the day a request turns at risk, the day it turns overdue,
with and without an extension; and the drawing of it on the request page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from requests_app import services
from requests_app.models import Status
from requests_app.timeline import TimelineState
from requests_app.timeline_chart import status_spans, timeline_chart
from tests import factories

pytestmark = pytest.mark.django_db

READY_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ON_TRACK, AT_RISK, OVERDUE = TimelineState.ON_TRACK, TimelineState.AT_RISK, TimelineState.OVERDUE


def ready_request(extension_days: int = 0):
    with time_machine.travel(READY_AT, tick=False):
        r = factories.export_request(status=Status.READY)
        if extension_days:
            services.export_request_grant_extension(
                export_request_id=r.pk,
                actor=factories.admin(),
                days=extension_days,
                reason="Custom export of scanned charts",
            )
            r.refresh_from_db()
    return r


@pytest.mark.parametrize(
    ("day", "expected"),
    [(27, ON_TRACK), (28, AT_RISK), (29, AT_RISK), (55, AT_RISK), (56, OVERDUE), (57, OVERDUE)],
)
@pytest.mark.parametrize("extension_days", [0, 10])
def test_the_state_on_each_edge_day(client, day, expected, extension_days):
    r = ready_request(extension_days)
    assert r.ready_at == READY_AT
    with time_machine.travel(READY_AT + timedelta(days=day + extension_days), tick=False):
        assert r.timeline_state() == expected
        factories.sign_in(client, r.practice.account_manager)
        page = client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()
        assert f'<span class="badge {expected.value}">{expected.label}</span>' in page


def test_an_extension_keeps_a_request_on_track_past_four_weeks():
    r = ready_request(extension_days=10)
    with time_machine.travel(READY_AT + timedelta(days=30), tick=False):
        assert r.timeline_state() == ON_TRACK
    assert r.timeline.standard_due == READY_AT + timedelta(days=38)
    assert r.timeline.promised_due == READY_AT + timedelta(days=66)


def test_the_clock_starts_when_the_second_of_signature_and_fee_arrives():
    manager = factories.account_manager()
    with time_machine.travel(READY_AT - timedelta(days=5), tick=False):
        r = factories.export_request(
            status=Status.ADDENDUM_SIGNED, practice_=factories.practice(manager)
        )
    assert r.ready_at is None and r.timeline_state() == TimelineState.NOT_STARTED
    with time_machine.travel(READY_AT, tick=False):
        services.export_request_record_fee(
            export_request_id=r.pk, actor=manager, amount=1000, invoice_reference="INV-2"
        )
    r.refresh_from_db()
    assert r.ready_at == READY_AT


def test_the_drawing_has_a_bar_per_status_span_and_the_marks_in_order():
    r = ready_request(extension_days=7)
    claimant = factories.data_member()
    with time_machine.travel(READY_AT + timedelta(days=3), tick=False):
        services.export_request_claim(export_request_id=r.pk, actor=claimant)
    now = READY_AT + timedelta(days=40)
    events = list(r.events.all())
    r.refresh_from_db()

    spans = status_spans(events, now)
    chart = timeline_chart(r, events, now)

    assert [s.status for s in spans] == [
        Status.DRAFT,
        Status.ADDENDUM_SENT,
        Status.ADDENDUM_SIGNED,
        Status.READY,
        Status.CLAIMED,
    ]
    assert spans[-1].start == READY_AT + timedelta(days=3) and spans[-1].end == now
    assert spans[-2].duration == timedelta(days=3)
    marks = {mark.key: mark for mark in chart.marks}
    assert marks["standard"].at == READY_AT + timedelta(days=35)
    assert marks["promised"].at == READY_AT + timedelta(days=63)
    assert marks["clock"].x < marks["standard"].x < marks["now"].x < marks["promised"].x
    assert marks["standard"].label == "4 weeks + 7 d"
    assert all(chart.plot_left <= bar.x <= chart.plot_right for bar in chart.bars)
    claimed_bar = chart.bars[-1]
    assert claimed_bar.x == pytest.approx(
        marks["clock"].x + (marks["now"].x - marks["clock"].x) * 3 / 40, abs=0.2
    )


def test_a_cancelled_request_ends_in_an_instant_and_draws_no_now_mark():
    r = factories.export_request()
    services.export_request_cancel(
        export_request_id=r.pk, actor=r.practice.account_manager, reason="Withdrawn"
    )
    r.refresh_from_db()
    events = list(r.events.all())
    chart = timeline_chart(r, events, events[-1].created_at + timedelta(days=9))
    assert chart.bars[-1].span.status == Status.CANCELLED
    assert chart.bars[-1].span.duration == timedelta(0)
    assert [mark.key for mark in chart.marks] == []
