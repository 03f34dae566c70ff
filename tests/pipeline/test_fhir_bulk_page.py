"""FHIR Bulk Data on the request page: the data team attaches an EHR's FHIR server, tests the
connection against the loopback Bulk Data server, and runs the export through the pipeline."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection as database
from django.urls import reverse
from django.utils import timezone

from exports import pipeline, smart_keys
from exports.models import ExportJob, SourceConnection, SourceKind
from exports.plan import PROCESSING_SECONDS_PER_PATIENT, plan_for
from exports.sources.fhir_bulk.placement import EXPORT_TYPES
from requests_app.models import ExportRequest, Status
from tests.factories import admin, data_member, export_request, sign_in
from tests.fakes.fhir_bulk_practice import FhirPractice, fhir_practice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer
from tests.mail import delivered_mail
from tests.sources.fhir_bulk_helpers import demo_practice

pytestmark = pytest.mark.django_db


def action_url(request, slug):
    return reverse("requests_app:action", args=[request.pk, slug])


def detail(client, request):
    return client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()


def attach(client, request, base_url, group_id=GROUP_ID, client_id=CLIENT_ID, since=""):
    return client.post(
        action_url(request, "connect-fhir-bulk"),
        {
            "connect-fhir-bulk-base_url": base_url,
            "connect-fhir-bulk-client_id": client_id,
            "connect-fhir-bulk-group_id": group_id,
            "connect-fhir-bulk-since": since,
        },
        follow=True,
    )


@pytest.fixture
def ring():
    return smart_keys.signing_keys_create(actor=admin())


@pytest.fixture
def claimed():
    member = data_member()
    return export_request(status=Status.CLAIMED, claimed_by=member), member


@pytest.fixture
def operating(client, claimed, ring, settings, tmp_path):
    """The claimer signed in, with a staging folder: ready to attach and test a server."""
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    request, member = claimed
    sign_in(client, member)
    return request


@pytest.fixture
def small_practice() -> FhirPractice:
    practice = FhirPractice()
    for number in (1, 2, 3):
        practice.add(
            {
                "resourceType": "Patient",
                "id": f"p{number}",
                "name": [{"family": f"Family{number}", "given": ["Pat"]}],
                "birthDate": "1980-01-0{number}",
            }
        )
    return practice


def test_the_claimer_attaches_a_fhir_server_and_sees_it_with_the_jwks_url(client, claimed, ring):
    request, member = claimed
    sign_in(client, member)
    page = detail(client, request)
    assert "Connect FHIR Bulk Data" in page
    assert reverse("exports:smart-jwks") in page

    attach(client, request, "https://ehr.example/fhir/r4/")

    source = SourceConnection.objects.get(request=request)
    assert source.kind == SourceKind.FHIR_BULK
    assert source.options == {
        "base_url": "https://ehr.example/fhir/r4",
        "client_id": CLIENT_ID,
        "group_id": GROUP_ID,
        "since": "",
    }
    assert source.credentials == ""  # the private key is the portal's, not the connection's
    page = detail(client, request)
    assert "https://ehr.example/fhir/r4" in page and f"group {GROUP_ID}" in page
    assert request.events.filter(action="source.connected").exists()


def test_an_empty_group_means_a_system_level_export(client, claimed, ring):
    request, member = claimed
    sign_in(client, member)
    attach(client, request, "https://ehr.example/fhir", group_id="")
    assert SourceConnection.objects.get(request=request).options["group_id"] == ""
    assert "system-level export" in detail(client, request)


@pytest.mark.parametrize(
    ("base_url", "group_id", "message"),
    [
        ("http://ehr.example/fhir", GROUP_ID, "must be https://"),
        ("https://ehr.example/fhir", "a/b", "A FHIR Group id is"),
    ],
)
def test_an_unsafe_url_or_a_malformed_group_is_refused(
    client, claimed, ring, base_url, group_id, message
):
    request, member = claimed
    sign_in(client, member)
    response = attach(client, request, base_url, group_id=group_id)
    assert message in response.content.decode()
    assert not SourceConnection.objects.exists()


def test_without_the_portals_signing_key_the_fhir_source_is_refused_with_a_message(client, claimed):
    request, member = claimed
    sign_in(client, member)
    response = attach(client, request, "https://ehr.example/fhir")
    assert "an admin creates it on the FHIR keys page" in response.content.decode()
    assert not SourceConnection.objects.exists()


def test_only_the_requests_operator_attaches_a_fhir_server(client, claimed, ring):
    request, _ = claimed
    sign_in(client, data_member())  # data team, but not the claimer
    assert "Connect FHIR Bulk Data" not in detail(client, request)
    response = client.post(
        action_url(request, "connect-fhir-bulk"),
        {"connect-fhir-bulk-base_url": "https://x.example", "connect-fhir-bulk-client_id": "c"},
    )
    assert response.status_code == 403
    assert not SourceConnection.objects.exists()


def test_the_connection_test_passes_against_the_bulk_server_and_is_recorded(
    client, operating, small_practice
):
    request = operating
    with FakeBulkServer(small_practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url)
        client.post(action_url(request, "test-connection"))
        tokens = server.tokens_issued()
        capability = server.requests_to("/fhir/metadata")

    source = SourceConnection.objects.get(request=request)
    # The same record the DrChrono test keeps: what a gate on a passing test reads.
    assert (source.last_test_ok, source.last_test_patient_count) == (True, 3)
    assert source.last_tested_at is not None
    assert "FHIR 4.0.1" in source.last_test_detail and "127.0.0.1" in source.last_test_detail
    assert tokens == 1 and len(capability) == 1
    assert request.events.filter(action="source.tested").exists()
    page = detail(client, request)
    assert "Connection test passed" in page and "holds 3 patients" in page


def test_the_connection_test_fails_when_the_ehr_has_not_registered_the_portals_key(
    client, claimed, ring, small_practice, settings, tmp_path
):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    request, member = claimed
    sign_in(client, member)
    with FakeBulkServer(small_practice, {"keys": []}) as server:  # nothing registered
        attach(client, request, server.base_url)
        client.post(action_url(request, "test-connection"))

    source = SourceConnection.objects.get(request=request)
    assert source.last_test_ok is False and source.last_test_patient_count is None
    assert "refused the portal's client assertion" in source.last_test_detail
    assert "Connection test failed" in detail(client, request)
    assert "Export plan" not in detail(client, request)  # a failed test learnt nothing to plan on


@pytest.mark.django_db(transaction=True)
def test_a_run_started_from_the_page_yields_the_deliverable(
    client, claimed, ring, settings, tmp_path
):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    settings.EXPORT_BATCH_SIZE = 4
    request, member = claimed
    sign_in(client, member)
    practice = fhir_practice(demo_practice())
    with FakeBulkServer(practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url)
        client.post(action_url(request, "test-connection"))
        client.post(action_url(request, "start-extraction"))
        assert ExportRequest.objects.get(pk=request.pk).status == Status.EXTRACTING
        job = ExportJob.objects.get(request=request)
        for batch_id in pipeline.job_plan(job.pk):  # as the workers would
            assert pipeline.batch_run(batch_id, worker="worker-a")
        assert pipeline.job_package(job.pk)
        deleted = server.requests_to("/", method="DELETE")

    job.refresh_from_db()
    assert ExportRequest.objects.get(pk=request.pk).status == Status.AWAITING_REVIEW
    assert job.reconciliation["is_balanced"]
    assert job.archive_parts
    assert len(deleted) == 1  # the export job was deleted on the server once spooled
    paths = [row["path"] for row in _manifest_rows(Path(job.manifest["path"]))]
    assert any(p.endswith("Clinical Data Export/Patient_Data_Export.xlsx") for p in paths)
    assert sum("/CCDA Files/" in p for p in paths) == len(practice.patients())
    assert any("/Signed Clinical Notes/" in p for p in paths)
    assert any(p.startswith(f"{paths[0].split('/')[0]}/Patient Images Export/") for p in paths)
    assert "Reconciliation" in detail(client, request)


def _manifest_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(file)]


def test_changes_since_is_shown_on_the_page_and_refused_in_the_future(client, claimed, ring):
    request, member = claimed
    sign_in(client, member)
    response = attach(client, request, "https://ehr.example/fhir", since="2999-01-01 00:00")
    assert "is in the future" in response.content.decode()
    assert not SourceConnection.objects.exists()
    response = attach(client, request, "https://ehr.example/fhir", since="last Tuesday")
    assert "Enter a valid date/time." in response.content.decode()
    assert not SourceConnection.objects.exists()

    attach(client, request, "https://ehr.example/fhir", since="2025-03-01 08:30")

    assert SourceConnection.objects.get(request=request).options["since"] == "2025-03-01T08:30:00Z"
    assert "only changes since" in detail(client, request)
    assert "2025-03-01T08:30:00Z" in detail(client, request)


@pytest.mark.django_db(transaction=True)
def test_the_run_kicks_off_the_export_with_changes_since(client, operating, small_practice):
    request = operating
    with FakeBulkServer(small_practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url, since="2025-03-01 08:30")
        client.post(action_url(request, "test-connection"))
        client.post(action_url(request, "start-extraction"))
        pipeline.job_plan(ExportJob.objects.get(request=request).pk)
        [kick_off] = server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")

    assert kick_off.query["_since"] == "2025-03-01T08:30:00Z"


def test_a_tested_fhir_source_gives_the_request_its_plan_with_its_numbers(
    client, operating, small_practice, settings
):
    settings.FHIR_BULK_TOTAL_WAIT_SECONDS = 600
    settings.FHIR_BULK_POLL_SECONDS = 20
    request = operating
    with FakeBulkServer(small_practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url)
        assert "Export plan" not in detail(client, request)  # nothing learnt before the test
        client.post(action_url(request, "test-connection"))
    before = timezone.now()
    page = detail(client, request)

    plan = plan_for(request)
    assert (plan.patients, plan.polls_at_most, plan.output_files) == (3, 30, len(EXPORT_TYPES))
    assert plan.requests == 1 + 30 + len(EXPORT_TYPES) + 1  # kick-off, polls, files, delete
    expected = before + timedelta(seconds=600 + 3 * PROCESSING_SECONDS_PER_PATIENT)
    assert abs((plan.finish - expected).total_seconds()) < 5
    assert "Export plan" in page
    assert 'data-testid="plan-patients">3 (counted by the connection test)' in page
    assert f'data-testid="plan-requests">about {plan.requests}: the kick-off' in page
    assert "at most 30 status polls" in page and "10 min 00 s" in page  # the wait, said so
    assert "does not say how long it takes" in page
    assert "before the 4-week mark" in page
    assert 'class="mark plan"' in page and "Planned finish" in page  # on the timeline chart


def test_while_running_the_fhir_plan_counts_from_the_runs_start(
    client, operating, small_practice, settings, tmp_path
):
    settings.FHIR_BULK_TOTAL_WAIT_SECONDS = 600
    request = operating
    with FakeBulkServer(small_practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url)
        client.post(action_url(request, "test-connection"))
    started = timezone.now() - timedelta(minutes=20)
    ExportJob.objects.create(
        request=request, attempt=1, staging_dir=str(tmp_path / "staging"),
        export_date=started.date(), batch_size=250, run_started_at=started,
    )  # fmt: skip
    ExportRequest.objects.filter(pk=request.pk).update(status=Status.EXTRACTING)

    plan = plan_for(ExportRequest.objects.get(pk=request.pk))

    assert plan.is_running  # the wait already begun is not counted again from now
    assert plan.finish == started + timedelta(seconds=600 + 3 * PROCESSING_SECONDS_PER_PATIENT)
    assert "Export plan (from this run's start)" in detail(client, request)


def test_a_fhir_plan_past_the_promised_date_warns_once_in_the_ehrs_terms(
    client, operating, small_practice, settings
):
    settings.FHIR_BULK_TOTAL_WAIT_SECONDS = 3600  # the promise falls due within the hour
    request = operating
    ExportRequest.objects.filter(pk=request.pk).update(
        ready_at=timezone.now() - timedelta(weeks=8) + timedelta(minutes=30)
    )
    with FakeBulkServer(small_practice, smart_keys.published_jwks()) as server:
        attach(client, request, server.base_url)
        for _ in range(2):
            client.post(action_url(request, "test-connection"))

    (warning,) = [m for m in delivered_mail() if "misses the promised date" in m.subject]
    assert "prepare the export in one run (3600 seconds" in warning.body
    assert "DrChrono" not in warning.body
    assert request.events.filter(action="plan.misses_promise").count() == 1


def test_the_portal_key_is_stored_encrypted(ring):
    with database.cursor() as cursor:
        cursor.execute("SELECT key_ring FROM exports_smartkeyring")
        (raw,) = cursor.fetchone()
    assert "PRIVATE KEY" not in raw and ring.current.private_pem not in raw
