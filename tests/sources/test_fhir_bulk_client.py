"""The Bulk Data client's dealings with the server, on a small practice: Range resumes with
and without server support, files offered without a token, failed and slow exports, the
connection test, and an NDJSON file whose spooling stops half way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from exports.sources.fhir_bulk import FhirBulkSettings, FhirBulkSource, KeyRing
from exports.sources.fhir_bulk import source as source_module
from exports.sources.fhir_bulk.client import ExportJobFailed
from exports.sources.fhir_bulk.keys import ES384
from exports.sources.records import Category, SourceAsksToWait, SourceError
from tests.fakes.fhir_bulk_practice import UNREADABLE_LINE, FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer, WallClock

RESULTS = 200


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC))


@pytest.fixture
def practice() -> FhirPractice:
    practice = FhirPractice()
    practice.add({"resourceType": "Patient", "id": "p1"})
    for number in range(RESULTS):
        practice.add(
            {
                "resourceType": "Observation",
                "id": f"o{number}",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "code": {"text": "Glucose " * 20},
                "valueQuantity": {"value": number, "unit": "mg/dL"},
            }
        )
    return practice


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


def open_source(server, ring, tmp_path, clock, **settings) -> FhirBulkSource:
    settings = {"group_id": GROUP_ID, "backoff_base": 0.001, **settings}
    return FhirBulkSource.connect(
        FhirBulkSettings(base_url=server.base_url, client_id=CLIENT_ID, **settings),
        ring.current,
        tmp_path,
        clock=clock,
    )


def serve(practice, ring, **options) -> FakeBulkServer:
    return FakeBulkServer(practice, ring.jwks(), **options)


@pytest.fixture
def server(practice, ring) -> Iterator[FakeBulkServer]:
    with serve(practice, ring) as fake:
        yield fake


def observations_path(server: FakeBulkServer) -> str:
    (path,) = {r.path for r in server.requests_to("/files/") if "Observation" in r.path}
    return path


def test_a_server_that_ignores_range_sends_the_file_again_and_it_is_rewritten(
    practice, ring, tmp_path, clock
):
    with serve(practice, ring, supports_range=False) as server:
        server.expire_token_during("Observation-0.ndjson", after_bytes=20_000)
        with open_source(server, ring, tmp_path, clock) as source:
            counts = source.counts_in_source()
            failures = list(source.records_outside_patients())

    assert counts[Category.LAB_RESULTS] == RESULTS and failures == []  # no line spliced
    ranges = [r.headers.get("Range") for r in server.requests_to(observations_path(server))]
    assert ranges[-1] == "bytes=20000-"  # asked for the rest, got the whole file


def test_files_offered_without_a_token_are_fetched_without_one(practice, ring, tmp_path, clock):
    server = serve(practice, ring, requires_access_token=False)
    with server, open_source(server, ring, tmp_path, clock) as source:
        source.prepare()

    downloads = server.requests_to("/files/")
    assert downloads and all("Authorization" not in r.headers for r in downloads)
    assert all("Authorization" in r.headers for r in server.requests_to("/jobs/"))


def test_a_failed_export_is_started_afresh_on_the_next_run(server, ring, tmp_path, clock):
    server.fail("/jobs/", 400)
    with open_source(server, ring, tmp_path, clock) as first, pytest.raises(ExportJobFailed):
        first.prepare()

    with open_source(server, ring, tmp_path, clock) as second:
        second.prepare()

    assert len(server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")) == 2


def test_a_refused_kick_off_names_the_status_and_issue_code(server, ring, tmp_path, clock):
    server.fail("$export", 403)

    refused = r"refused the export request \(HTTP 403: exception"
    with (
        open_source(server, ring, tmp_path, clock) as source,
        pytest.raises(SourceError, match=refused),
    ):
        source.prepare()


def test_waiting_past_the_patience_is_handed_back(practice, ring, tmp_path, clock):
    server = serve(practice, ring, polls_before_ready=5, poll_retry_after="60")
    source = open_source(server, ring, tmp_path, clock, patience=100)
    with server, source, pytest.raises(SourceAsksToWait) as wait:
        source.prepare()

    assert clock.sleeps == [60.0] and wait.value.retry_after == 60


def test_the_connection_test_without_a_group_counts_the_servers_patients(
    server, ring, tmp_path, clock
):
    with open_source(server, ring, tmp_path, clock, group_id="") as source:
        report = source.test_connection()
        source.prepare()

    assert report.ok and report.patient_count == 1
    assert server.requests_to("/fhir/Patient") and server.requests_to("/fhir/$export")


def test_a_server_that_is_not_fhir_r4_fails_the_connection_test(practice, ring, tmp_path, clock):
    server = serve(practice, ring, fhir_version="3.0.2")
    with server, open_source(server, ring, tmp_path, clock) as source:
        report = source.test_connection()

    assert not report.ok and report.detail == "the server does not speak FHIR R4"


def test_spooling_that_stops_half_way_resumes_at_the_line_it_reached(
    practice, server, ring, tmp_path, clock, monkeypatch
):
    practice.resources["Observation"].insert(7, UNREADABLE_LINE)  # line 8 of the file
    monkeypatch.setattr(source_module, "LINES_PER_PAGE", 3)
    first = open_source(server, ring, tmp_path, clock)
    save_page, pages = first._spool.save_page, []

    def stop_after_two_pages(walk, *args, **kwargs):
        if "Observation" in walk:
            pages.append(walk)
            if len(pages) > 2:
                raise RuntimeError("the worker stopped")
        return save_page(walk, *args, **kwargs)

    monkeypatch.setattr(first._spool, "save_page", stop_after_two_pages)
    with first, pytest.raises(RuntimeError):
        first.prepare()

    with open_source(server, ring, tmp_path, clock) as second:
        counts = second.counts_in_source()
        failures = list(second.records_outside_patients())

    assert counts[Category.LAB_RESULTS] == RESULTS + 1
    assert [f.record_id for f in failures] == ["Observation file 1 line 8"]
    assert len(server.requests_to(observations_path(server))) == 1  # not downloaded again


def test_dropped_connections_and_server_errors_are_retried(server, ring, tmp_path, clock):
    server.drop("/jobs/")
    server.fail("Observation-0.ndjson", 503)

    with open_source(server, ring, tmp_path, clock) as source:
        assert source.counts_in_source()[Category.LAB_RESULTS] == RESULTS

    assert len(server.requests_to(observations_path(server))) == 2


def test_only_the_percentage_of_the_servers_progress_text_is_passed_on(
    server, ring, tmp_path, clock, caplog
):
    with open_source(server, ring, tmp_path, clock) as source:
        source.prepare()

    progress = [r.getMessage() for r in caplog.records if "progress" in r.getMessage()]
    assert progress == ["Bulk Data export progress: 40%"]
    assert "Jane" not in caplog.text


def test_a_changed_request_exports_again_instead_of_reusing_the_spool(
    server, ring, tmp_path, clock
):
    with open_source(server, ring, tmp_path, clock) as first:
        first.prepare()
    with open_source(server, ring, tmp_path, clock, since="2025-01-01T00:00:00Z") as second:
        second.prepare()
    with open_source(server, ring, tmp_path, clock, since="2025-01-01T00:00:00Z") as third:
        third.prepare()

    kick_offs = server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")
    assert [r.query.get("_since") for r in kick_offs] == [None, "2025-01-01T00:00:00Z"]


def test_a_token_about_to_expire_is_replaced_before_it_is_used(practice, ring, tmp_path, clock):
    server = serve(practice, ring, token_lifetime=10)  # inside the renewal margin
    with server, open_source(server, ring, tmp_path, clock) as source:
        source.test_connection()

    assert server.tokens_issued() == 2  # the metadata, then the group


def test_unreadable_lines_of_a_type_split_over_files_are_each_failed(
    practice, ring, tmp_path, clock
):
    practice.resources["Observation"][2:2] = [UNREADABLE_LINE, UNREADABLE_LINE]  # one per file
    server = serve(practice, ring, files_per_type=2)
    with server, open_source(server, ring, tmp_path, clock) as source:
        counts = source.counts_in_source()
        failures = sorted(f.record_id for f in source.records_outside_patients())

    assert failures == ["Observation file 1 line 2", "Observation file 2 line 2"]
    assert counts[Category.LAB_RESULTS] == RESULTS + 2


def test_a_retry_after_given_as_a_date_is_waited_out(server, ring, tmp_path, clock):
    server.throttle(
        "/jobs/", retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=30))
    )

    with open_source(server, ring, tmp_path, clock) as source:
        source.prepare()

    (waited,) = [seconds for seconds in clock.sleeps if seconds > 1]
    assert 25 < waited <= 30


def test_a_kick_off_without_a_status_url_is_refused(server, ring, tmp_path, clock):
    server.gives_status_url = False

    source = open_source(server, ring, tmp_path, clock)
    with source, pytest.raises(SourceError, match="gave no status URL"):
        source.prepare()


def test_resources_the_manifest_announces_but_the_file_lacks_are_failed(
    server, ring, tmp_path, clock
):
    server.lines_lost["Observation"] = 2

    with open_source(server, ring, tmp_path, clock) as source:
        counts = source.counts_in_source()
        failures = [(f.category, f.record_id, f.reason) for f in source.records_outside_patients()]

    reason = "announced in the export's manifest but missing from its file"
    assert failures == [
        (Category.LAB_RESULTS, f"Observation file 1 resource {RESULTS - 1} of {RESULTS}", reason),
        (Category.LAB_RESULTS, f"Observation file 1 resource {RESULTS} of {RESULTS}", reason),
    ]
    assert counts[Category.LAB_RESULTS] == RESULTS
