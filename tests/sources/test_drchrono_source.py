"""DrChronoSource against the loopback fake: the whole practice, accounted for."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from exports.sources.drchrono import DrChronoSource, HourlyRequestBudget
from exports.sources.records import (
    Category,
    LabSource,
    PatientRecord,
    PatientStatus,
    PatientUnreadable,
    RecordUnavailable,
    TransientSourceError,
)
from tests.fakes.drchrono_server import (
    CLIENT_SECRET,
    FakeClock,
    FakeDrChrono,
    MemoryTokenStore,
    build_practice,
)

FAXES = {"IF", "OF", "IR", "OR"}


@pytest.fixture
def fake() -> Iterator[FakeDrChrono]:
    with FakeDrChrono() as server:
        yield server


def open_source(
    fake: FakeDrChrono, spool_dir: Path, *, store: MemoryTokenStore | None = None
) -> DrChronoSource:
    store = store or MemoryTokenStore(fake.tokens())
    clock = FakeClock()
    return DrChronoSource.connect(
        fake.client_settings(),
        store.tokens,
        token_store=store,
        budget=HourlyRequestBudget(clock=clock),
        spool_dir=spool_dir,
        clock=clock,
    )


@pytest.fixture
def source(fake, tmp_path) -> Iterator[DrChronoSource]:
    with open_source(fake, tmp_path) as opened:
        yield opened


def read_all(source: DrChronoSource) -> list[PatientRecord]:
    return list(source.read_patients(source.patient_ids()))


def raw(fake: FakeDrChrono, endpoint: str, patient_id: int) -> list[dict]:
    return [o for o in fake.practice.objects(endpoint) if o.get("patient") == patient_id]


def ids(records) -> list[str]:
    return [record.id for record in records]


def exported_counts(records: list[PatientRecord]) -> Counter:
    counts: Counter = Counter()
    for record in records:
        counts.update(record.category_counts())
    return counts


def accounted_counts(source: DrChronoSource) -> Counter:
    """What reading the source accounts for: its patients' records, and the records of no
    patient it excludes."""
    counts = exported_counts(read_all(source))
    counts[Category.FAXES_AND_REFERRALS] += len(list(source.unattached_records()))
    counts.update(exclusion.category for exclusion in source.exclusions_outside_patients())
    return counts


def message_center(fake: FakeDrChrono, patient_id: int | None, *, faxes: bool) -> list[str]:
    """The ids of a patient's message-center items: faxes and referrals, or the others."""
    return [
        str(o["id"])
        for o in fake.practice.objects("messages")
        if o.get("patient") == patient_id and (o["type"] in FAXES) == faxes
    ]


# -- The whole practice ---------------------------------------------------------------------


def test_every_patient_is_read_inactive_and_deceased_included(source, fake):
    fake.refuse("/api/patients_list")  # the paged list, as an application without bulk reads
    records = {record.id: record for record in read_all(source)}

    assert sorted(records) == ["1", "2", "3", "4", "5"]
    assert records["3"].demographics.status is PatientStatus.INACTIVE
    assert records["4"].demographics.status is PatientStatus.DECEASED
    assert records["4"].demographics.date_of_death == date(2023, 8, 9)
    assert fake.api_requests("/api/patients")[0].query["show_inactive"] == "true"


def test_the_fake_lists_inactive_and_deceased_patients_only_when_asked(fake):
    headers = {"Authorization": f"Bearer {fake.access_token}"}
    plain = httpx.get(f"{fake.base_url}/api/patients", headers=headers).json()["results"]
    asked = httpx.get(f"{fake.base_url}/api/patients?show_inactive=true", headers=headers).json()[
        "results"
    ]

    assert {p["patient_status"] for p in plain} == {"A"}
    assert {p["patient_status"] for p in asked} == {"A", "I", "D"}
    assert not any("date_of_death" in p for p in plain)


def test_records_match_what_drchrono_holds(source, fake):
    for record in read_all(source):
        number = int(record.id)
        for endpoint, records in [
            ("medications", record.medications),
            ("allergies", record.allergies),
            ("problems", record.problems),
            ("patient_vaccine_records", record.immunizations),
            ("documents", record.documents),
            ("patient_payments", record.payments),
        ]:
            assert ids(records) == [str(o["id"]) for o in raw(fake, endpoint, number)], endpoint
        assert ids(record.appointments) == sorted(
            (o["id"] for o in raw(fake, "appointments", number)), key=lambda i: (len(i), i)
        )
        assert ids(record.messages) == [
            *(str(o["id"]) for o in raw(fake, "patient_messages", number)),
            *message_center(fake, number, faxes=False),
        ]
        assert ids(record.faxes_and_referrals) == message_center(fake, number, faxes=True)
        assert record.failures == []
        assert record.ccda is not None

    alice = source.read_patient("1")
    assert alice.demographics.first_name == "Alice"
    assert alice.demographics.date_of_birth == date(1980, 2, 29)
    assert [i.priority.value for i in alice.insurances] == ["primary", "secondary"]
    assert alice.insurances[0].member_id == "ACM123456"
    assert alice.insurances[1].card_front is None
    assert alice.documents[0].tags == ("referral", "cardiology")
    assert alice.payments[0].amount == pytest.approx(25.5)
    assert alice.appointments[0].vitals.systolic_mmhg == 120
    assert alice.appointments[0].provider == "Ada Quill"
    assert alice.appointments[0].office == "Harbour Street Clinic"
    assert [(n.id, n.locked, n.pdf is not None) for n in alice.clinical_notes] == [
        ("5010", True, True),
        ("5011", False, False),
        ("5102", True, True),
    ]
    assert {r.source for r in alice.lab_results} == {LabSource.MANUAL, LabSource.QUEST}
    assert [r.source for r in source.read_patient("3").lab_results] == [
        LabSource.MANUAL,
        LabSource.INTEGRATION,
    ]
    eve = source.read_patient("5").demographics
    assert (eve.date_of_birth, eve.date_of_birth_text) == (None, "")
    flu, tdap = source.read_patient("5").immunizations
    assert (flu.vaccine, flu.cvx_code, flu.status) == (
        "Influenza, injectable, quadrivalent",
        "150",
        "completed",
    )
    assert flu.administered_on == date(2023, 10, 2)
    assert (flu.lot_number, flu.manufacturer) == ("LOT-7A21", "Sanofi Pasteur")
    assert "0.5 mL" in flu.notes
    assert (tdap.cvx_code, tdap.status) == ("", "refused")  # no CVX code: kept, by its name


def test_files_stream_the_bytes_drchrono_holds(source, fake):
    alice = source.read_patient("1")
    blobs = {
        "patients/1/photo.jpg": alice.photo.file,
        "cards/1-front.jpg": alice.insurances[0].card_front,
        "cards/1-back.jpg": alice.insurances[0].card_back,
        "notes/5010.pdf": alice.clinical_notes[0].pdf,
        "documents/1301.pdf": alice.documents[0].file,
        "documents/1401.jpg": alice.documents[1].file,
        "labs/1501.pdf": alice.lab_results[0].report,
        "lab_documents/2001.pdf": alice.lab_results[1].report,
        "attachments/1601.pdf": alice.messages[0].attachments[0].file,
        "messages/1901.pdf": alice.faxes_and_referrals[0].file,
        "messages/1907.pdf": alice.messages[1].attachments[0].file,
    }
    for name, blob in blobs.items():
        assert b"".join(blob.chunks()) == fake.practice.files[f"/media/{name}"].content, name
    assert blobs["documents/1401.jpg"].extension == "jpg"
    assert b"<ClinicalDocument" in b"".join(alice.ccda.chunks())


def test_counts_in_source_balance_with_what_is_read(source):
    counts = source.counts_in_source()
    read = accounted_counts(source)

    assert dict(counts) == {category: read[category] for category in Category}
    assert counts[Category.PATIENTS] == 5
    assert counts[Category.CLINICAL_NOTES] == 12  # seven locked, five not
    assert counts[Category.INTEGRATION_LAB_RESULTS] == 2  # Quest's for Alice, HealthGorilla's
    assert [f.id for f in source.unattached_records()] == ["1905"]
    assert list(source.records_outside_patients()) == []


def test_lists_that_give_their_count_balance_too_calendar_breaks_and_all(tmp_path):
    with FakeDrChrono(counts=True) as fake, open_source(fake, tmp_path) as source:
        counts = source.counts_in_source()
        read = accounted_counts(source)

    assert dict(counts) == {category: read[category] for category in Category}


def test_a_page_lost_in_reading_leaves_its_category_short_when_drchrono_counts_the_list(
    tmp_path,
):
    practice = build_practice()
    practice.objects("medications").extend(
        {"id": 60_000 + n, "patient": 2, "name": "Aspirin"} for n in range(600)
    )
    with FakeDrChrono(practice, counts=True) as fake, open_source(fake, tmp_path) as source:
        fake.skip_page("/api/medications")  # 250 medications are never seen
        counts = source.counts_in_source()
        read = accounted_counts(source)

    assert (counts[Category.MEDICATIONS], read[Category.MEDICATIONS]) == (605, 355)
    assert {c: counts[c] for c in Category if c is not Category.MEDICATIONS} == {
        c: read[c] for c in Category if c is not Category.MEDICATIONS
    }


def test_a_record_with_a_malformed_field_is_reported_failed_not_dropped(tmp_path):
    with (
        FakeDrChrono(build_practice(malformed_record=True)) as fake,
        open_source(fake, tmp_path) as source,
    ):
        bob = source.read_patient("2")
        counts = source.counts_in_source()
        read = exported_counts(read_all(source))

    problem_failures = [f for f in bob.failures if f.category is Category.PROBLEMS]
    assert [(f.record_id, f.reason) for f in problem_failures] == [
        ("7777", "date_onset is not a date")
    ]
    assert counts[Category.PROBLEMS] == read[Category.PROBLEMS] == 6


def test_a_patient_that_cannot_be_read_fails_with_every_record_it_holds(tmp_path):
    practice = build_practice()
    practice.objects("patients")[0]["patient_status"] = "X"  # Alice, who holds one of each
    with FakeDrChrono() as readable, open_source(readable, tmp_path / "readable") as source:
        holds = source.read_patient("1").category_counts()
    with (
        FakeDrChrono(practice) as fake,
        open_source(fake, tmp_path) as source,
        pytest.raises(PatientUnreadable) as unreadable,
    ):
        source.read_patient("1")

    assert str(unreadable.value) == "patient 1: patient_status is not A, I or D"
    dependents = unreadable.value.dependents
    assert Counter(failure.category for failure in dependents) == holds - Counter(
        {Category.PATIENTS: 1}
    )
    assert {failure.reason for failure in dependents} == {"the patient's record could not be read"}
    failed = {(failure.category, failure.record_id) for failure in dependents}
    assert {
        (Category.PAYMENTS, "1701"),
        (Category.CLINICAL_NOTES, "5010"),
        (Category.MESSAGE_ATTACHMENTS, "1907-1"),
        (Category.INSURANCE_CARD_IMAGES, "1-primary"),
    } <= failed


def test_a_message_center_item_with_a_malformed_type_is_reported_failed(tmp_path):
    practice = build_practice()
    practice.objects("messages").append(
        {"id": 1999, "type": ["IF"], "patient": 2, "received_at": "2023-02-03T11:00:00"}
    )
    with FakeDrChrono(practice) as fake, open_source(fake, tmp_path) as source:
        bob = source.read_patient("2")

    assert [(f.category, f.record_id, f.reason) for f in bob.failures] == [
        (Category.MESSAGES, "1999", "type is not text")
    ]


def test_records_for_patients_drchrono_does_not_list_are_reported(tmp_path):
    practice = build_practice()
    practice.objects("medications").append({"id": 4242, "patient": 99, "name": "Orphan"})
    with FakeDrChrono(practice) as fake, open_source(fake, tmp_path) as source:
        orphans = list(source.records_outside_patients())

    assert [(f.category, f.record_id) for f in orphans] == [(Category.MEDICATIONS, "4242")]
    assert "not in the DrChrono patient list" in orphans[0].reason


def test_a_note_whose_download_is_cut_short_is_unavailable_naming_the_note(source, fake):
    note = source.read_patient("1").clinical_notes[0]
    fake.truncate("/media/notes/5010.pdf", times=99)

    with pytest.raises(RecordUnavailable, match=r"^clinical_notes 5010 file download was cut"):
        b"".join(note.pdf.chunks())


# -- Spooling -------------------------------------------------------------------------------


def test_every_message_center_item_of_a_patient_is_read_whatever_its_type(source):
    alice, bob, carol, dan = (source.read_patient(number) for number in "1234")

    assert [(m.id, m.category) for m in alice.messages] == [
        ("1601", "Onpatient Messages"),
        ("1907", "Incoming Labs"),
    ]
    assert [(m.id, m.category) for m in bob.messages[1:]] == [
        ("1906", "Patient Incoming Messages"),
        ("1909", "Patient Outgoing Messages"),
    ]
    assert [(m.id, m.category) for m in carol.messages[1:]] == [("1908", "Inbound Direct Messages")]
    assert [(m.id, m.category) for m in dan.messages[1:]] == [("1910", "Other Messages")]
    incoming_labs = alice.messages[1]
    assert (incoming_labs.subject, incoming_labs.body) == ("IL item", "Reviewed.")
    assert [a.id for a in incoming_labs.attachments] == ["1907-1"]
    assert bob.messages[2].attachments == ()


def test_a_message_center_item_of_no_patient_is_counted_excluded(source):
    excluded = list(source.exclusions_outside_patients())

    assert [(e.category, e.record_id, e.reason) for e in excluded] == [
        (Category.MESSAGES, "1911", "not tied to a patient"),
        (Category.MESSAGE_ATTACHMENTS, "1911-1", "not tied to a patient"),
    ]


def test_the_whole_message_center_is_read_in_one_walk(source, fake):
    source.prepare()

    assert [r.query.get("type") for r in fake.api_requests("/api/messages")] == [None]


def test_every_appointment_is_read_whatever_its_date_or_state(source):
    alice, bob, carol = (source.read_patient(number) for number in "123")

    assert "5100" in ids(bob.appointments)  # 1995, before bob's date_of_first_appointment
    assert "5100" in ids(n for n in bob.clinical_notes if n.locked)
    assert "5101" in ids(carol.appointments)  # booked for 2030
    deleted = next(a for a in alice.appointments if a.id == "5102")
    assert deleted.archived
    assert "5102" in ids(n for n in alice.clinical_notes if n.locked)
    assert not any(a.archived for a in alice.appointments if a.id != "5102")


def test_appointments_are_read_in_one_walk_changed_since_before_any_ehr(source, fake):
    fake.refuse("/api/appointments_list")  # the paged list, as an application without bulk reads
    source.prepare()

    (first, *_) = requests = fake.api_requests("/api/appointments")
    assert first.query == {
        "since": "1900-01-01",
        "show_archived": "true",
        "verbose": "true",
        "page_size": "25",
    }
    assert all("cursor" in r.query for r in requests[1:])


def test_prepare_is_idempotent(source, fake):
    source.prepare()
    spent = len(fake.requests)

    source.prepare()
    read_all(source)
    source.counts_in_source()

    assert len(fake.requests) == spent


def test_an_interrupted_prepare_resumes_where_it_stopped(fake, tmp_path):
    fake.fail("/api/allergies", 503, times=99)  # the walk after medications
    with open_source(fake, tmp_path) as source, pytest.raises(TransientSourceError):
        source.prepare()
    fake.faults.clear()
    fake.requests.clear()

    with open_source(fake, tmp_path) as source:
        source.prepare()
        records = read_all(source)

    walked_again = {r.path for r in fake.api_requests()}
    assert not walked_again & {"/api/patients", "/api/lab_results", "/api/medications"}
    assert "/api/allergies" in walked_again
    assert sum(len(r.medications) for r in records) == 5
    assert sum(len(r.allergies) for r in records) == 5


def test_a_walk_interrupted_mid_list_resumes_at_its_next_page(fake, tmp_path):
    fake.practice.objects("medications").extend(
        {"id": 60_000 + n, "patient": 2, "name": "Aspirin"} for n in range(600)
    )
    with open_source(fake, tmp_path) as source:
        client_pages = source._client.iter_pages
        calls = 0

        def pages_then_crash(*args, **kwargs):
            nonlocal calls
            for page in client_pages(*args, **kwargs):
                yield page
                if args[0] == "/api/medications":
                    calls += 1
                    if calls == 1:
                        raise TransientSourceError("worker lost")

        source._client.iter_pages = pages_then_crash
        with pytest.raises(TransientSourceError):
            source.prepare()
    fake.requests.clear()

    with open_source(fake, tmp_path) as source:
        source.prepare()
        medications = sum(len(r.medications) for r in read_all(source))

    resumed = fake.api_requests("/api/medications")
    assert "cursor" in resumed[0].query  # not the first page again
    assert len(resumed) == 2
    assert medications == 605


def test_test_connection_counts_patients_without_spooling(source, fake):
    report = source.test_connection()

    assert (report.ok, report.patient_count) == (True, 5)
    assert {r.path for r in fake.api_requests()} == {"/api/patients"}


def test_test_connection_reports_a_failure_plainly(source, fake):
    fake.fail("/api/patients", 403)

    report = source.test_connection()

    assert (report.ok, report.patient_count) == (False, None)
    assert report.detail == "DrChrono /api/patients refused the request (HTTP 403)"


# -- No secrets, no PHI ---------------------------------------------------------------------


def test_no_token_or_phi_reaches_logs_or_errors(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="exports")
    errors: list[str] = []
    with FakeDrChrono() as unreachable:
        unreachable.fail("/api/patients", 500, times=99)
        with open_source(unreachable, tmp_path / "unreachable") as failing:
            try:
                failing.prepare()
            except TransientSourceError as exc:
                errors.append(str(exc))

    with FakeDrChrono(build_practice(malformed_record=True)) as fake:
        store = MemoryTokenStore(fake.tokens())
        original_tokens = [fake.access_token, fake.refresh_token]
        fake.fail("/api/medications", 429, times=1)
        fake.fail("/api/allergies", 500, times=1)
        fake.malformed_json("/api/problems", times=1)
        fake.truncate("/media/notes/5010.pdf", times=99)
        with open_source(fake, tmp_path, store=store) as source:
            fake.expire_access_token()
            records = read_all(source)
            try:
                b"".join(records[0].clinical_notes[0].pdf.chunks())
            except RecordUnavailable as exc:
                errors.append(str(exc))
            errors.extend(f.reason for r in records for f in r.failures)

    secrets = [*original_tokens, fake.access_token, fake.refresh_token, CLIENT_SECRET]
    phi = [
        value
        for patient in fake.practice.objects("patients")
        for value in (patient["first_name"], patient["last_name"], patient["date_of_birth"])
        if value
    ] + ["notes/5010.pdf", "31/02/2019"]
    assert store.renewed  # the 401 made it refresh
    assert len(errors) == 3
    text = caplog.text + "\n".join(errors)
    for needle in secrets + phi:
        assert needle not in text


def test_a_vaccine_record_with_neither_name_nor_cvx_code_is_failed_not_dropped(tmp_path):
    practice = build_practice()
    practice.objects("patient_vaccine_records").append(
        {"id": 1398, "patient": 2, "name": "", "cvx_code": ""}
    )
    with FakeDrChrono(practice) as fake, open_source(fake, tmp_path) as source:
        bob = source.read_patient("2")
        counts = source.counts_in_source()
        read = exported_counts(read_all(source))

    assert [(f.category, f.record_id) for f in bob.failures] == [(Category.IMMUNIZATIONS, "1398")]
    assert "neither a name nor a CVX code" in bob.failures[0].reason
    assert counts[Category.IMMUNIZATIONS] == read[Category.IMMUNIZATIONS] == 3
