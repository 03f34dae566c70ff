"""The plan of a DrChrono export on the request page: read by the connection test, shown
before Start against the 4- and 8-week marks, recomputed while running, warned about when
it misses the promised date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from exports import connections, pipeline
from exports.models import DrChronoRequestHour, ExportJob, SourceConnection
from exports.plan import finish_time, plan_for
from exports.sources.drchrono.cost import reading_cost
from exports.sources.registry import open_source
from requests_app.models import ExportRequest, Status
from tests.factories import data_member, export_request, sign_in
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, NEVER_EXPIRES, FakeDrChrono
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings) -> Iterator[FakeDrChrono]:
    with FakeDrChrono(counts=True) as server:
        settings.DRCHRONO_API_BASE_URL = server.base_url
        settings.DRCHRONO_TOKEN_URL = server.token_url
        settings.DRCHRONO_BACKOFF_MS = 1
        yield server


def connected_and_tested(fake: FakeDrChrono, tmp_path, *, source_ccda: bool = True):
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    connections.source_connect_drchrono(
        export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET, access_token=fake.access_token,
        refresh_token=fake.refresh_token, expires_at=NEVER_EXPIRES, source_ccda=source_ccda,
    )  # fmt: skip
    fake.requests.clear()
    connections.source_test_connection(
        export_request_id=request.pk, actor=member, spool_dir=tmp_path
    )
    return ExportRequest.objects.get(pk=request.pk), member


def test_the_connection_test_reads_each_lists_size_with_one_call(fake, tmp_path):
    request, _ = connected_and_tested(fake, tmp_path)

    sizes = SourceConnection.objects.get(request=request).last_test_list_sizes
    assert sizes["patients"] == 5
    assert sizes["medications"] == len(fake.practice.objects("medications"))
    probes = [r for r in fake.api_requests() if r.query.get("page_size") == "1"]
    assert len(probes) == len(sizes)


def test_before_start_the_plan_gives_calls_downloads_and_the_finish_against_the_marks(
    fake, tmp_path
):
    request, _ = connected_and_tested(fake, tmp_path)

    plan = plan_for(request)

    sizes = SourceConnection.objects.get(request=request).last_test_list_sizes
    cost = reading_cost(sizes, include_source_ccda=True)
    assert plan.api_calls == cost.api_calls
    assert plan.source_ccda_calls == 5
    assert plan.file_downloads == cost.file_downloads > 0
    assert not plan.is_running
    assert plan.finish < plan.standard_due  # a small practice: well before 4 weeks


def test_source_ccdas_switched_off_for_a_request_cost_nothing_in_its_plan(fake, tmp_path):
    request, _ = connected_and_tested(fake, tmp_path, source_ccda=False)

    plan = plan_for(request)

    assert plan.source_ccda_calls == 0


def test_the_request_page_shows_the_plan_and_this_hours_calls(fake, tmp_path, client):
    request, member = connected_and_tested(fake, tmp_path)
    sign_in(client, member)

    page = client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()

    plan = plan_for(request)
    assert "Export plan" in page
    assert f'data-testid="plan-api-calls">{plan.api_calls}' in page
    assert f'data-testid="plan-file-downloads">about {plan.file_downloads}' in page
    assert 'data-testid="plan-this-hour">' in page
    assert "before the 4-week mark" in page
    assert 'class="mark plan"' in page  # drawn on the timeline chart
    assert "Planned finish" in page


def test_a_plan_that_misses_the_promised_date_warns_the_claimer_and_account_manager_once(
    fake, tmp_path, settings
):
    settings.DRCHRONO_REQUESTS_PER_HOUR = 40  # two connection tests fit; the export does not
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    ExportRequest.objects.filter(pk=request.pk).update(
        ready_at=timezone.now() - timedelta(weeks=8) + timedelta(minutes=30)
    )
    connections.source_connect_drchrono(
        export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET, access_token=fake.access_token,
        refresh_token=fake.refresh_token, expires_at=NEVER_EXPIRES,
    )  # fmt: skip
    for _ in range(2):
        connections.source_test_connection(
            export_request_id=request.pk, actor=member, spool_dir=tmp_path
        )

    assert plan_for(ExportRequest.objects.get(pk=request.pk)).misses_promise
    (warning,) = [m for m in delivered_mail() if "misses the promised date" in m.subject]
    assert sorted(warning.to) == sorted([member.email, request.practice.account_manager.email])
    assert request.events.filter(action="plan.misses_promise").count() == 1


def test_while_running_the_plan_counts_down_from_the_calls_spent(fake, tmp_path):
    request, _ = connected_and_tested(fake, tmp_path)
    before = plan_for(request)
    ExportRequest.objects.filter(pk=request.pk).update(status=Status.EXTRACTING)
    SourceConnection.objects.filter(request=request).update(api_calls_spent=10)

    running = plan_for(ExportRequest.objects.get(pk=request.pk))

    assert running.is_running
    assert running.api_calls_left == before.api_calls - 10


def test_the_plan_shows_the_applications_calls_used_and_left_this_hour(fake, tmp_path):
    request, _ = connected_and_tested(fake, tmp_path)
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    DrChronoRequestHour.objects.update_or_create(
        client_id=CLIENT_ID, hour_start=hour, defaults={"spent": 120}
    )

    plan = plan_for(request, now)

    assert (plan.used_this_hour, plan.left_this_hour) == (120, 380)


def test_calls_past_this_hours_allowance_finish_in_later_hours():
    now = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)

    finish = finish_time(
        now, calls_left=1100, per_hour=500, left_this_hour=100, files_left=0, files_per_second=1
    )

    assert finish == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)  # 100 now, 500 at 11, 500 at 12


def test_file_downloads_add_their_time_at_the_file_throttle():
    now = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)

    finish = finish_time(
        now, calls_left=10, per_hour=500, left_this_hour=500, files_left=600, files_per_second=2
    )

    assert finish == now + timedelta(minutes=5)


def test_every_api_call_an_export_makes_is_counted_on_its_connection(fake, tmp_path):
    request, _ = connected_and_tested(fake, tmp_path)
    connection = SourceConnection.objects.get(request=request)
    fake.requests.clear()

    with open_source(connection, spool_dir=tmp_path / "export") as source:
        source.prepare()

    spent = SourceConnection.objects.get(pk=connection.pk).api_calls_spent
    assert spent == len(fake.api_requests()) > 0


def test_a_running_export_that_pauses_past_its_promise_warns_once(fake, tmp_path, settings):
    request, member = connected_and_tested(fake, tmp_path)
    assert not mail.outbox
    job = ExportJob.objects.create(
        request=request, attempt=1, staging_dir=str(tmp_path / "staging"),
        export_date=timezone.now().date(), batch_size=250,
    )  # fmt: skip
    ExportRequest.objects.filter(pk=request.pk).update(
        status=Status.EXTRACTING, ready_at=timezone.now() - timedelta(weeks=8)
    )

    for _ in range(2):
        pipeline.source_asks_to_wait(job.pk, seconds=1800)

    (warning,) = [m for m in delivered_mail() if "misses the promised date" in m.subject]
    assert member.email in warning.to
