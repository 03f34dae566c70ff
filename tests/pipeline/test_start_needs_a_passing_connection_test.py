"""Start is offered, and starts, only once the latest connection test of the source as attached
now has passed: a failed test is told as a failure, saving credentials is not a connection, and
changing the source (or its credentials) asks for a new test."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exports import connections, pipeline
from exports.models import ExportJob, SourceConnection
from requests_app.models import ExportRequest, Status
from requests_app.services import RequestActionError
from tests.factories import data_member, export_request, pass_connection_test, sign_in
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, FakeDrChrono

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.DRCHRONO_MAX_ATTEMPTS, settings.DRCHRONO_BACKOFF_MS = 1, 1
    member = data_member()
    return export_request(status=Status.CLAIMED, claimed_by=member), member


@pytest.fixture
def fake(settings):
    with FakeDrChrono() as server:
        settings.DRCHRONO_API_BASE_URL, settings.DRCHRONO_TOKEN_URL = (
            server.base_url,
            server.token_url,
        )
        yield server


def post(client, request, slug, data=None):
    url = reverse("requests_app:action", args=[request.pk, slug])
    return client.post(url, data or {}, follow=True).content.decode()


def drchrono_form(fake, *, right: bool) -> dict:
    """DrChrono's credentials as the form takes them: the fake's own, or tokens it never gave."""
    return {
        "connect-drchrono-client_id": CLIENT_ID,
        "connect-drchrono-client_secret": CLIENT_SECRET,
        "connect-drchrono-access_token": fake.access_token if right else "wrong-token",
        "connect-drchrono-refresh_token": fake.refresh_token if right else "wrong-refresh",
        "connect-drchrono-expires_at": "2100-01-01 00:00",
    }


def messages_of(page: str) -> str:
    start = page.find('<ul class="messages"')
    return page[start : page.find("</ul>", start)] if start >= 0 else ""


def test_saving_credentials_does_not_say_connected_and_offers_no_start(client, claimed, fake):
    request, member = claimed
    sign_in(client, member)

    page = post(client, request, "connect-drchrono", drchrono_form(fake, right=True))

    assert "saved" in messages_of(page) and "connected" not in messages_of(page).lower()
    assert "Not tested" in page and "Start the export" not in page


def test_a_failed_connection_test_is_shown_as_a_failure_and_start_is_not_offered(
    client, claimed, fake
):
    request, member = claimed
    sign_in(client, member)
    post(client, request, "connect-drchrono", drchrono_form(fake, right=False))

    page = post(client, request, "test-connection")

    told = messages_of(page)
    assert 'class="error"' in told and "The connection test failed" in told
    assert 'class="success"' not in told
    assert "Connection test failed" in page and "Start the export" not in page
    with pytest.raises(RequestActionError, match="passes its test"):
        pipeline.pipeline_start(export_request_id=request.pk, actor=member)
    assert ExportRequest.objects.get(pk=request.pk).status == Status.CLAIMED


def test_fixing_the_credentials_and_passing_the_test_offers_start(client, claimed, fake):
    request, member = claimed
    sign_in(client, member)
    post(client, request, "connect-drchrono", drchrono_form(fake, right=False))
    post(client, request, "test-connection")
    post(client, request, "connect-drchrono", drchrono_form(fake, right=True))

    page = post(client, request, "test-connection")

    assert 'class="success"' in messages_of(page) and "Connection test passed" in page
    assert "Start the export" in page
    post(client, request, "start-extraction")
    assert ExportRequest.objects.get(pk=request.pk).status == Status.EXTRACTING


def test_changing_a_tested_source_asks_for_a_new_test_before_start(client, claimed):
    request, member = claimed
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=20, seed=1)
    pass_connection_test(request, member)
    sign_in(client, member)
    assert "Start the export" in post(client, request, "test-connection")

    page = post(
        client, request, "connect-demo", {"connect-demo-patients": 30, "connect-demo-seed": 1}
    )

    assert "Start the export" not in page and "Not tested" in page
    with pytest.raises(RequestActionError, match="passes its test"):
        pipeline.pipeline_start(export_request_id=request.pk, actor=member)
    assert not ExportJob.objects.exists()


def test_a_pass_of_a_source_changed_during_its_test_is_not_recorded(claimed, monkeypatch):
    request, member = claimed
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=20, seed=1)
    opened = connections.open_source

    def changed_while_testing(connection, **kwargs):
        connections.source_connect_demo(
            export_request_id=request.pk, actor=member, patients=30, seed=1
        )
        return opened(connection, **kwargs)

    monkeypatch.setattr(connections, "open_source", changed_while_testing)

    with pytest.raises(RequestActionError, match="changed while it was being tested"):
        pass_connection_test(request, member)
    source = SourceConnection.objects.get(request=request)
    assert (source.options["patients"], source.last_test_ok) == (30, None)
