"""The pipeline card on the request page: the data team's controls, progress, review."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.urls import reverse

from exports import connections
from exports.models import ExportJob, SourceConnection, Stage
from requests_app.models import ExportRequest, Status
from tests.factories import (
    account_manager,
    admin,
    data_member,
    export_request,
    pass_connection_test,
    sign_in,
)
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, FakeDrChrono

pytestmark = pytest.mark.django_db


def action_url(request, slug):
    return reverse("requests_app:action", args=[request.pk, slug])


def detail(client, request):
    return client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()


@pytest.fixture
def claimed():
    member = data_member()
    return export_request(status=Status.CLAIMED, claimed_by=member), member


def test_the_claimer_attaches_a_demo_practice_and_sees_it(client, claimed):
    request, member = claimed
    sign_in(client, member)
    assert "Use a demo practice" in detail(client, request)

    client.post(
        action_url(request, "connect-demo"), {"connect-demo-patients": 40, "connect-demo-seed": 3}
    )

    source = SourceConnection.objects.get(request=request)
    assert (source.kind, source.options) == ("demo", {"patients": 40, "seed": 3})
    page = detail(client, request)
    assert "40 patients, seed 3" in page and "Not tested" in page
    assert "Start the export" not in page  # not before a passing connection test
    assert request.events.filter(action="source.connected").exists()


def test_a_demo_practice_outside_the_supported_sizes_is_refused_with_a_message(client, claimed):
    request, member = claimed
    sign_in(client, member)
    response = client.post(
        action_url(request, "connect-demo"),
        {"connect-demo-patients": 5, "connect-demo-seed": 3},
        follow=True,
    )
    assert "greater than or equal to 10" in response.content.decode()
    assert not SourceConnection.objects.filter(request=request).exists()


def test_drchrono_secrets_are_encrypted_at_rest_and_never_shown_again(client, claimed):
    request, member = claimed
    sign_in(client, member)
    fields = {
        "client_id": "client-abc",
        "client_secret": "SECRET-client-xyz",
        "access_token": "SECRET-access-123",
        "refresh_token": "SECRET-refresh-456",
        "expires_at": "2026-12-01 10:00",
    }
    client.post(
        action_url(request, "connect-drchrono"),
        {f"connect-drchrono-{k}": v for k, v in fields.items()},
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM exports_sourceconnection")
        [(stored,)] = cursor.fetchall()
    assert "SECRET" not in stored
    assert "SECRET-refresh-456" in SourceConnection.objects.get(request=request).credentials
    page = detail(client, request)
    assert "client-abc" in page and "SECRET" not in page


def test_only_the_claimer_or_an_admin_sees_and_uses_the_controls(client, claimed):
    request, _ = claimed
    other = data_member()
    sign_in(client, other)
    assert "Use a demo practice" not in detail(client, request)
    response = client.post(
        action_url(request, "connect-demo"), {"connect-demo-patients": 40, "connect-demo-seed": 1}
    )
    assert response.status_code == 403
    assert not SourceConnection.objects.exists()

    sign_in(client, admin())
    assert "Use a demo practice" in detail(client, request)


def test_starting_creates_the_first_run_and_the_page_polls_while_it_runs(client, claimed):
    request, member = claimed
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=20, seed=1)
    pass_connection_test(request, member)
    sign_in(client, member)

    client.post(action_url(request, "start-extraction"))

    assert ExportRequest.objects.get(pk=request.pk).status == Status.EXTRACTING
    job = ExportJob.objects.get(request=request)
    assert (job.attempt, job.stage) == (1, Stage.EXTRACTING)
    live = client.get(reverse("requests_app:live", args=[request.pk]))
    assert live.status_code == 200
    assert 'hx-trigger="every' in live.content.decode()
    assert "Stop and discard this run" in live.content.decode()


def test_the_live_regions_are_hidden_from_people_who_cannot_see_the_request(client, claimed):
    request, _ = claimed
    sign_in(client, account_manager())  # manages other practices
    assert client.get(reverse("requests_app:live", args=[request.pk])).status_code == 404


def test_a_run_cannot_start_without_a_source(client, claimed):
    request, member = claimed
    sign_in(client, member)
    assert "Start the export" not in detail(client, request)
    client.post(action_url(request, "start-extraction"))
    assert ExportRequest.objects.get(pk=request.pk).status == Status.CLAIMED


def test_approving_an_export_with_failed_records_needs_them_acknowledged(client, claimed):
    request, member = claimed
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=20, seed=1)
    from exports import pipeline
    from requests_app.services import transition_request

    pass_connection_test(request, member)
    job = pipeline.pipeline_start(export_request_id=request.pk, actor=member)
    transition_request(
        request.pk, actor=None, method="start_packaging", action="pipeline.extracted"
    )
    transition_request(
        request.pk, actor=None, method="finish_packaging", action="pipeline.packaged"
    )
    lines = [{"key": "documents", "label": "Uploaded Documents", "in_source": 3, "exported": 2,
              "excluded": 0, "failed": 1, "is_balanced": True, "excluded_reasons": {},
              "failed_reasons": {"unavailable in the source": 1}, "failed_ids": ["9"]}]  # fmt: skip
    ExportJob.objects.filter(pk=job.pk).update(
        reconciliation={"is_balanced": True, "has_failures": True, "lines": lines},
    )
    sign_in(client, member)
    page = detail(client, request)
    assert "1 records could not be exported" in page and "unavailable in the source" in page

    response = client.post(action_url(request, "approve-delivery"), follow=True)
    assert "records could not be exported" in response.content.decode()
    assert ExportRequest.objects.get(pk=request.pk).status == Status.AWAITING_REVIEW

    client.post(
        action_url(request, "approve-delivery"), {"approve-delivery-acknowledge_failures": "on"}
    )
    assert ExportRequest.objects.get(pk=request.pk).status == Status.UPLOADING


def test_testing_a_demo_connection_reports_its_patient_count(client, claimed, settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path
    request, member = claimed
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=40, seed=3)
    sign_in(client, member)

    client.post(action_url(request, "test-connection"))

    source = SourceConnection.objects.get(request=request)
    assert (source.last_test_ok, source.last_test_patient_count) == (True, 40)
    assert "sees 40 patients" in detail(client, request)


def test_testing_drchrono_asks_the_api_what_it_can_see(client, claimed, settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path
    request, member = claimed
    with FakeDrChrono() as fake:
        settings.DRCHRONO_API_BASE_URL, settings.DRCHRONO_TOKEN_URL = fake.base_url, fake.token_url
        connections.source_connect_drchrono(
            export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET, access_token=fake.access_token,
            refresh_token=fake.refresh_token, expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        sign_in(client, member)
        client.post(action_url(request, "test-connection"))
        patients = len(fake.practice.objects("patients"))

    source = SourceConnection.objects.get(request=request)
    assert (source.last_test_ok, source.last_test_patient_count) == (True, patients)


def test_a_drchrono_connection_that_fails_is_reported_without_its_secrets(
    client, claimed, settings, tmp_path
):
    settings.EXPORT_STAGING_DIR = tmp_path
    settings.DRCHRONO_MAX_ATTEMPTS, settings.DRCHRONO_BACKOFF_MS = 1, 1
    request, member = claimed
    with FakeDrChrono() as fake:
        settings.DRCHRONO_API_BASE_URL, settings.DRCHRONO_TOKEN_URL = fake.base_url, fake.token_url
        connections.source_connect_drchrono(
            export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET, access_token="wrong-token", refresh_token="wrong-refresh",
            expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        sign_in(client, member)
        client.post(action_url(request, "test-connection"))

    source = SourceConnection.objects.get(request=request)
    assert source.last_test_ok is False and source.last_test_detail
    page = detail(client, request)
    assert "Connection test failed" in page
    assert (
        "wrong-token" not in page
        and CLIENT_SECRET not in page
        and "wrong-token" not in source.last_test_detail
    )
