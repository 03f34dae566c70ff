"""The timeline drawing stays legible at any combination of dates and extensions: no two
labels overlap, none is cut at the drawing's edges, and a cancelled request says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from requests_app import services
from requests_app import timeline_chart as chart_module
from requests_app.models import Status
from requests_app.timeline import Timeline
from requests_app.timeline_chart import EDGE, WIDTH, text_width, timeline_chart
from tests import factories

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STATUS_PATH = [
    Status.DRAFT,
    Status.ADDENDUM_SENT,
    Status.ADDENDUM_SIGNED,
    Status.READY,
    Status.CLAIMED,
    Status.EXTRACTING,
    Status.PACKAGING,
    Status.AWAITING_REVIEW,
    Status.UPLOADING,
    Status.DELIVERED,
]


def a_request(ready_at, extension_days, status):
    """Just what the drawing reads of a request."""
    return SimpleNamespace(
        timeline=Timeline(
            ready_at=ready_at,
            extension=timedelta(days=extension_days),
            stopped_at=None,
            delivered=False,
        ),
        extension_days=extension_days,
        status=status,
    )


def events_after(gaps_in_hours: list[float]):
    at, events = START, []
    for status, gap in zip(STATUS_PATH, gaps_in_hours, strict=False):
        at += timedelta(hours=gap)
        events.append(SimpleNamespace(to_status=status, created_at=at))
    return events


def assert_legible(chart):
    status_labels_end = chart.plot_left - 8
    for bar in chart.bars:
        assert status_labels_end - text_width(bar.span.label) >= EDGE, bar.span.label
    for mark in chart.marks:
        assert mark.label_x >= EDGE and mark.label_right <= WIDTH - EDGE, mark.label
        assert mark.label_y < chart.marks_bottom
    for one in chart.marks:
        for other in chart.marks:
            if one is not other and one.label_y == other.label_y:
                assert one.label_right <= other.label_x or other.label_right <= one.label_x, (
                    f"{one.label} and {other.label} overlap"
                )
    tops = [bar.y for bar in chart.bars]
    assert all(top > chart.marks_bottom for top in tops)


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(
        st.floats(min_value=0, max_value=24 * 120, allow_nan=False), min_size=1, max_size=10
    ),
    extension_days=st.integers(min_value=0, max_value=365),
    now_after_hours=st.floats(min_value=0, max_value=24 * 400, allow_nan=False),
    planned_finish_after_hours=st.one_of(
        st.none(), st.floats(min_value=0, max_value=24 * 400, allow_nan=False)
    ),
)
def test_no_label_overlaps_or_is_cut_at_any_dates_and_extensions(
    gaps, extension_days, now_after_hours, planned_finish_after_hours
):
    events = events_after(gaps)
    statuses = [event.to_status for event in events]
    ready_at = next((e.created_at for e in events if e.to_status == Status.READY), None)
    request = a_request(ready_at, extension_days if ready_at else 0, statuses[-1])
    now = events[-1].created_at + timedelta(hours=now_after_hours)

    def planned_finish(request, now):  # as another app's marks (the export plan) would add
        if planned_finish_after_hours is None:
            return []
        return [("plan", "Planned finish", now + timedelta(hours=planned_finish_after_hours))]

    with mock.patch.object(chart_module, "_MARK_PROVIDERS", [planned_finish]):
        assert_legible(timeline_chart(request, events, now))


def test_marks_on_one_day_are_stacked_in_lanes_not_drawn_over_each_other():
    events = events_after([0, 1, 1, 1])  # ready three hours in
    request = a_request(events[-1].created_at, 0, Status.READY)

    with mock.patch.object(chart_module, "_MARK_PROVIDERS", []):
        chart = timeline_chart(request, events, events[-1].created_at)  # "Now" on the clock mark

    marks = {mark.key: mark for mark in chart.marks}
    assert marks["clock"].label_y != marks["now"].label_y
    assert_legible(chart)


@pytest.mark.django_db
def test_a_cancelled_request_says_on_its_timeline_that_it_was_cancelled(client):
    r = factories.export_request()
    services.export_request_cancel(
        export_request_id=r.pk, actor=r.practice.account_manager, reason="Withdrawn"
    )
    factories.sign_in(client, r.practice.account_manager)

    page = client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()

    assert "This request was cancelled on" in page
    assert "before the clock started" in page
