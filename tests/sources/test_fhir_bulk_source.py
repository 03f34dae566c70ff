"""FhirBulkSource against the loopback Bulk Data server: the demo practice, exported as a
FHIR server would, read back whole and accounted for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from exports.sources.demo import HardCase
from exports.sources.fhir_bulk import FhirBulkSettings, FhirBulkSource, KeyRing
from exports.sources.fhir_bulk.keys import ES384
from exports.sources.fhir_bulk.placement import EXPORT_TYPES
from exports.sources.records import (
    Category,
    PatientUnreadable,
    RecordUnavailable,
    SourceAsksToWait,
    SourceError,
)
from tests.fakes.fhir_bulk_practice import FhirPractice, fhir_practice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer, WallClock
from tests.sources.fhir_bulk_helpers import demo_practice

#: what FHIR has no resource for, so the fake does not export it
NOT_IN_FHIR = {Category.PAYMENTS, Category.FAXES_AND_REFERRALS}


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def demo():
    return demo_practice()


@pytest.fixture
def practice(demo) -> FhirPractice:
    return fhir_practice(demo)


@pytest.fixture
def server(practice, ring) -> Iterator[FakeBulkServer]:
    with FakeBulkServer(practice, ring.jwks()) as fake:
        yield fake


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


def open_source(server, ring, work_dir: Path, clock: WallClock, **settings) -> FhirBulkSource:
    return FhirBulkSource.connect(
        FhirBulkSettings(
            base_url=server.base_url,
            client_id=CLIENT_ID,
            group_id=GROUP_ID,
            backoff_base=0.001,
            **settings,
        ),
        ring.current,
        work_dir,
        clock=clock,
    )


@pytest.fixture
def source(server, ring, tmp_path, clock) -> Iterator[FhirBulkSource]:
    with open_source(server, ring, tmp_path / "work", clock) as opened:
        yield opened


def balance(source: FhirBulkSource) -> tuple[Counter, Counter]:
    """(what the source counts, what reading every patient and the records outside them
    accounts for)."""
    read: Counter[Category] = Counter()
    for patient_id in source.patient_ids():
        read.update(source.read_patient(patient_id).category_counts())
    read.update(failure.category for failure in source.records_outside_patients())
    read.update(excluded.category for excluded in source.exclusions_outside_patients())
    counted = Counter({c: n for c, n in source.counts_in_source().items() if n})
    return counted, read


def test_the_demo_practice_reads_back_the_same_through_bulk_data(source, demo):
    assert list(source.patient_ids()) == list(demo.patient_ids())
    for patient_id in demo.patient_ids():
        expected, got = demo.read_patient(patient_id), source.read_patient(patient_id)
        wanted, have = expected.demographics, got.demographics
        for name in ("first_name", "last_name", "chart_id", "date_of_birth", "status",
                     "date_of_birth_text", "gender", "date_of_death", "email", "address",
                     "social_security_number", "race", "primary_provider"):  # fmt: skip
            assert getattr(have, name) == getattr(wanted, name), (patient_id, name)
        counts = expected.category_counts()
        # The demo's unreadable lab result is a line of NDJSON no patient can be told from.
        counts.subtract(failure.category for failure in expected.failures)
        for category in NOT_IN_FHIR:
            del counts[category]
        assert +got.category_counts() == +counts, patient_id
        assert [a.vitals for a in got.appointments] == [a.vitals for a in expected.appointments]
        assert [(n.id, n.locked, n.appointment_id) for n in got.clinical_notes] == [
            (n.id, n.locked, n.appointment_id) for n in expected.clinical_notes
        ]
        assert [(i.id, i.priority, i.is_current, i.card_front is None) for i in got.insurances] == [
            (i.id, i.priority, i.is_current, i.card_front is None) for i in expected.insurances
        ]
        assert [(r.id, r.source, Decimal(r.value)) for r in got.lab_results] == [
            (r.id, r.source, Decimal(r.value)) for r in expected.lab_results
        ]
        assert [m.rxnorm for m in got.medications] == [m.rxnorm for m in expected.medications]


def test_files_stream_from_the_ehr_with_the_bearer_token(source, demo, server):
    (patient_id,) = demo.hard_case_patient_ids(HardCase.LARGE_DOCUMENT)
    expected = demo.read_patient(patient_id).documents[-1]

    got = source.read_patient(patient_id).documents[-1]

    content = b"".join(got.file.chunks())
    assert content == b"".join(expected.file.chunks())
    assert content.startswith(b"%PDF-")
    (download,) = server.requests_to(f"/fhir/Binary/doc-{expected.id}")
    assert download.headers["Authorization"].startswith("Bearer ")


def test_a_token_that_expires_mid_download_is_renewed_and_the_download_resumed(
    server, ring, tmp_path, clock
):
    server.expire_token_during("/Observation-0.ndjson", after_bytes=20_000)

    with open_source(server, ring, tmp_path, clock) as source:
        source.prepare()
    (observations,) = {r.path for r in server.requests_to("/files/") if "Observation" in r.path}
    ranges = [r.headers.get("Range") for r in server.requests_to(observations)]

    assert ranges == [None, "bytes=20000-", "bytes=20000-"]  # cut, refused (401), resumed
    assert server.tokens_issued() == 2


def test_a_token_that_expires_while_a_file_streams_is_renewed(source, demo, server):
    (patient_id,) = demo.hard_case_patient_ids(HardCase.LARGE_DOCUMENT)
    document = source.read_patient(patient_id).documents[-1]
    server.expire_token_during(f"/fhir/Binary/doc-{document.id}", after_bytes=10_000)
    issued = server.tokens_issued()

    content = b"".join(document.file.chunks())

    assert len(content) == 65536
    assert server.tokens_issued() == issued + 1


def test_the_export_is_kicked_off_for_the_group_with_the_types_the_deliverable_needs(
    server, ring, tmp_path, clock
):
    with open_source(server, ring, tmp_path, clock, since="2024-01-01T00:00:00Z") as source:
        source.prepare()

    (kick_off,) = server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")
    assert kick_off.query == {"_type": ",".join(EXPORT_TYPES), "_since": "2024-01-01T00:00:00Z"}
    assert kick_off.headers["Prefer"] == "respond-async"
    assert kick_off.headers["Accept"] == "application/fhir+json"
    assert len(server.requests_to("/jobs/")) == 2  # in progress, then the manifest
    assert len(server.requests_to("/jobs/", "DELETE")) == 1  # the job is deleted when done
    assert not list(tmp_path.glob("*.ndjson"))  # downloaded files go once spooled


def test_every_record_is_accounted_for(source):
    counted, read = balance(source)

    assert counted == read
    assert counted[Category.LAB_RESULTS] > 0 and counted[Category.MESSAGE_ATTACHMENTS] > 0


def test_records_naming_an_unknown_patient_or_none_are_failed_with_the_reason(
    practice, server, source
):
    practice.add({"resourceType": "Condition", "id": "stray-1",
                  "subject": {"reference": "Patient/999999"}, "code": {"text": "x"}})  # fmt: skip
    practice.add({"resourceType": "Communication", "id": "stray-2", "sent": "2024-01-01",
                  "payload": [{"contentAttachment": {"url": "Binary/none"}}]})  # fmt: skip

    failures = sorted(
        (f.category, f.record_id, f.reason)
        for f in source.records_outside_patients()
        if f.record_id.startswith("stray")
    )

    assert failures == sorted(
        [
            (Category.PROBLEMS, "stray-1", "names a patient not in the export"),
            (Category.MESSAGES, "stray-2", "names no patient"),
            (Category.MESSAGE_ATTACHMENTS, "stray-2", "names no patient"),
        ]
    )
    counted, read = balance(source)
    assert counted == read


def test_an_unreadable_ndjson_line_is_a_failed_record(source, demo):
    (patient_id,) = demo.hard_case_patient_ids(HardCase.UNREADABLE_RECORD)

    failures = [f for f in source.records_outside_patients() if "line" in f.record_id]

    assert [(f.category, f.reason) for f in failures] == [
        (Category.LAB_RESULTS, "a line of the EHR's export is not a FHIR resource")
    ]
    assert failures[0].record_id.startswith("Observation file 1 line ")
    assert source.read_patient(patient_id).failures == []


def test_export_errors_naming_a_record_are_failed_records(server, source):
    server.errors.append({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing",
         "diagnostics": "Observation/lost-7 could not be serialized"}]})  # fmt: skip

    (failure,) = [f for f in source.records_outside_patients() if f.record_id == "lost-7"]

    assert failure.category is Category.LAB_RESULTS
    assert failure.reason == "the EHR could not export it (processing)"
    counted, read = balance(source)
    assert counted == read


def test_export_errors_naming_no_record_stop_the_export(server, source):
    server.errors.append({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": "disk full"}]})  # fmt: skip

    with pytest.raises(SourceError, match="1 export errors that name no record"):
        source.prepare()


def test_a_record_that_cannot_be_mapped_is_failed_in_its_patient(practice, source, demo):
    appointment = practice.resources["Appointment"][0]
    del appointment["start"]
    patient_id = appointment["participant"][0]["actor"]["reference"].removeprefix("Patient/")

    record = source.read_patient(patient_id)

    assert [(f.category, f.record_id, f.reason) for f in record.failures] == [
        (Category.APPOINTMENTS, appointment["id"], f"Appointment {appointment['id']}: start is "
         "missing")
    ]  # fmt: skip
    counted, read = balance(source)
    assert counted == read


def test_a_patient_that_cannot_be_read_takes_its_records_down_with_it(practice, source):
    patient = practice.patients()[1]
    patient["name"] = "not a list"

    with pytest.raises(PatientUnreadable) as unreadable:
        source.read_patient(patient["id"])

    assert "name is not a list" in str(unreadable.value)
    assert unreadable.value.dependents
    assert {f.reason for f in unreadable.value.dependents} == {
        "the patient's record could not be read"
    }


def test_a_patient_not_in_the_export_is_unavailable(source):
    with pytest.raises(RecordUnavailable):
        source.read_patient("nobody")


def test_429s_are_waited_out_as_the_server_asks(server, source, clock):
    server.throttle("/fhir/Group/", retry_after="7")
    server.throttle("/files/", times=2, retry_after="3")

    source.prepare()

    assert clock.sleeps.count(7.0) == 1 and clock.sleeps.count(3.0) == 2


def test_a_long_wait_is_handed_back_and_the_next_run_resumes_the_same_job(
    server, ring, tmp_path, clock
):
    server.poll_retry_after = "900"
    first = open_source(server, ring, tmp_path, clock)
    with first, pytest.raises(SourceAsksToWait) as wait:
        first.prepare()
    assert wait.value.retry_after == 900

    with open_source(server, ring, tmp_path, clock) as second:
        assert list(second.patient_ids())

    assert len(server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")) == 1


def test_a_run_cut_short_resumes_its_downloads_without_a_new_export(server, ring, tmp_path, clock):
    server.throttle("/files/", times=1, retry_after="3600")  # the first file: come back later
    with open_source(server, ring, tmp_path, clock) as first, pytest.raises(SourceAsksToWait):
        first.prepare()

    with open_source(server, ring, tmp_path, clock) as second:
        second.prepare()

    assert len(server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")) == 1


def test_a_job_the_ehr_no_longer_offers_is_exported_again(server, ring, tmp_path, clock):
    server.poll_retry_after = "900"
    with open_source(server, ring, tmp_path, clock) as first, pytest.raises(SourceAsksToWait):
        first.prepare()
    server.forget_jobs()
    server.poll_retry_after = "0"

    with open_source(server, ring, tmp_path, clock) as second:
        assert len(list(second.patient_ids())) == len(server.practice.patients())

    assert len(server.requests_to(f"/fhir/Group/{GROUP_ID}/$export")) == 2


def test_the_connection_test_checks_metadata_token_and_group_size(source, server):
    report = source.test_connection()

    assert report.ok and report.patient_count == len(server.practice.patients())
    assert "FHIR 4.0.1" in report.detail
    assert server.requests_to("/fhir/metadata") and server.tokens_issued() == 1


def test_the_connection_test_reports_a_refused_key(server, tmp_path, clock):
    stranger = KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC))
    with open_source(server, stranger, tmp_path, clock) as source:
        report = source.test_connection()

    assert not report.ok and report.patient_count is None
    assert "refused the portal's client assertion" in report.detail


def test_a_patients_photos_after_the_first_are_counted_and_excluded_with_the_reason(
    practice, server, source
):
    patient = next(p for p in practice.patients() if p.get("photo"))
    patient["photo"] = [patient["photo"][0], dict(patient["photo"][0]), dict(patient["photo"][0])]

    exclusions = [
        e for e in source.exclusions_outside_patients() if e.category is Category.PATIENT_PHOTOS
    ]

    assert [e.record_id for e in exclusions] == [
        f"{patient['id']} photo 2",
        f"{patient['id']} photo 3",
    ]
    assert "one photo per patient" in exclusions[0].reason
    assert source.read_patient(patient["id"]).photo is not None
    counted, read = balance(source)
    assert counted == read
