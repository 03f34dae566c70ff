"""Lists filter, sort, count and paginate in the database: the timeline state the database
computes is the one ``Timeline`` computes, for any dates and extensions, and a page of a long
list reads only that page's rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from requests_app import selectors
from requests_app.models import ExportRequest, Status
from requests_app.timeline import TimelineState
from tests import factories

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
DAYS = st.integers(min_value=-120, max_value=120)


@pytest.fixture
def one_request() -> int:
    """One request row that every example rewrites (inside the test's transaction)."""
    return factories.export_request().pk


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ready=st.none() | DAYS,
    extension_days=st.integers(min_value=0, max_value=365),
    delivered=st.none() | DAYS,
    closed=st.none() | DAYS,
    cancelled=st.booleans(),
    seconds=st.integers(min_value=-86_400, max_value=86_400),
)
def test_the_database_puts_a_request_in_the_same_timeline_state_as_the_timeline(
    one_request, ready, extension_days, delivered, closed, cancelled, seconds
):
    def day(offset):
        return None if offset is None else NOW + timedelta(days=offset, seconds=seconds)

    ExportRequest.objects.filter(pk=one_request).update(
        ready_at=day(ready),
        extension_days=extension_days,
        delivered_at=day(delivered),
        closed_at=day(closed),
        status=Status.CANCELLED if cancelled else Status.READY,
    )
    export_request = ExportRequest.objects.get(pk=one_request)
    rows = selectors.in_timeline_state(ExportRequest.objects.filter(pk=one_request), None, NOW)

    assert rows.get().timeline_state_now == export_request.timeline_state(NOW)
    assert rows.get().promised_due_at == export_request.timeline.promised_due


def test_a_page_of_a_long_list_reads_only_its_rows_in_deadline_order(client):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    made = [factories.export_request(status=Status.READY, practice_=practice) for _ in range(3)]
    ExportRequest.objects.filter(pk=made[0].pk).update(extension_days=30)  # due last
    requests = selectors.by_deadline(
        selectors.in_timeline_state(ExportRequest.objects.all(), TimelineState.ON_TRACK, NOW)
    )

    with CaptureQueriesContext(connection) as queries:
        first_two = list(requests[:2])

    assert [r.pk for r in first_two] == [made[1].pk, made[2].pk]
    assert len(queries) == 1 and "LIMIT 2" in queries[0]["sql"]


def test_the_dashboard_pages_through_requests_in_the_database(client, monkeypatch):
    from requests_app import views

    manager = factories.account_manager()
    practice = factories.practice(manager)
    made = [factories.export_request(practice_=practice) for _ in range(3)]
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    factories.sign_in(client, manager)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("requests_app:dashboard-account-manager"), {"page": 2})

    shown = [r.reference for r in made if r.reference in page.content.decode()]
    assert len(shown) == 1
    listing = [q["sql"] for q in queries if "promised_due_at" in q["sql"] and "LIMIT" in q["sql"]]
    assert listing and all("OFFSET 2" in sql for sql in listing)


def test_the_counts_by_timeline_and_status_come_from_one_grouped_query_each():
    for _ in range(3):
        factories.export_request(status=Status.READY)
    requests = ExportRequest.objects.all()

    with CaptureQueriesContext(connection) as queries:
        timeline = selectors.timeline_counts(requests, NOW)
        statuses = selectors.status_counts(requests)

    assert timeline == {TimelineState.ON_TRACK: 3}
    assert statuses[Status.READY] == 3 and sum(statuses.values()) == 3
    assert len(queries) == 2 and all("GROUP BY" in q["sql"] for q in queries)


def test_the_admin_overview_pages_its_open_requests_nearest_deadline_first(client, monkeypatch):
    from requests_app import views

    made = [factories.export_request(status=Status.READY) for _ in range(3)]
    ExportRequest.objects.filter(pk=made[0].pk).update(extension_days=30)  # due last
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    factories.sign_in(client, factories.admin())
    overview = reverse("requests_app:dashboard-admin")

    first = client.get(overview).content.decode()
    second = client.get(overview, {"page": 2}).content.decode()

    assert made[1].reference in first and made[2].reference in first
    assert made[0].reference not in first and made[0].reference in second
    assert "Page 1 of 2" in first


def test_the_ready_queue_pages_in_the_database(client, monkeypatch):
    from requests_app import views

    made = [factories.export_request(status=Status.READY) for _ in range(3)]
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    factories.sign_in(client, factories.data_member())
    queue = reverse("requests_app:dashboard-data-team")

    first = client.get(queue).content.decode()
    second = client.get(queue, {"page": 2}).content.decode()

    assert [r.reference in first for r in made] == [True, True, False]
    assert made[2].reference in second.split("<h2>My jobs</h2>")[0]
    assert "Page 2 of 2" in second
