"""What each FHIR resource becomes, in a small hand-made practice: the shapes the demo
practice does not take (visits held as Encounters only, immunizations, statements,
referenced medications, metric vitals, card images that fit no card, several C-CDAs)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from exports.sources.fhir_bulk import FhirBulkSettings, FhirBulkSource, KeyRing
from exports.sources.fhir_bulk.keys import ES384
from exports.sources.records import Category, PatientStatus, RecordUnavailable
from tests.fakes.fhir_bulk_practice import FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, FakeBulkServer, WallClock

PATIENT = {"reference": "Patient/p1"}
CCDA_FORMAT = {"code": "urn:hl7-org:sdwg:ccda-structuredBody:2.1"}


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC))


@pytest.fixture
def practice() -> FhirPractice:
    practice = FhirPractice()
    practice.add(
        {
            "resourceType": "Patient",
            "id": "p1",
            "birthDate": "1970-03",
            "deceasedBoolean": True,
            "name": [
                {"use": "nickname", "given": ["Bee"]},
                {"use": "official", "family": "Ng", "given": ["Bo"]},
            ],
        }
    )
    return practice


@pytest.fixture
def read(practice, ring, tmp_path) -> Iterator[Any]:
    """Exports ``practice`` through the fake (system level) and reads patient p1."""
    opened: list[FhirBulkSource] = []

    def read_patient():
        server = FakeBulkServer(practice, ring.jwks()).start()
        source = FhirBulkSource.connect(
            FhirBulkSettings(base_url=server.base_url, client_id=CLIENT_ID, backoff_base=0.001),
            ring.current,
            tmp_path,
            clock=WallClock(),
        )
        opened.append(source)
        source.prepare()
        server.stop()
        return source, source.read_patient("p1")

    yield read_patient
    for source in opened:
        source.close()


def balanced(source: FhirBulkSource, record) -> bool:
    read = Counter(record.category_counts())
    read.update(failure.category for failure in source.records_outside_patients())
    counted = source.counts_in_source()
    return all(read[category] == counted[category] for category in Category)


def test_the_patient_as_the_ehr_holds_them(read):
    _, record = read()

    d = record.demographics
    assert (d.first_name, d.last_name, d.nick_name) == ("Bo", "Ng", "Bee")
    assert d.date_of_birth is None and d.date_of_birth_text == "1970-03"  # a partial date
    assert d.status is PatientStatus.DECEASED


def test_a_visit_held_as_an_encounter_only_is_an_appointment_with_its_metric_vitals(practice, read):
    practice.add(
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "subject": PATIENT,
            "period": {"start": "2024-02-01T09:00:00", "end": "2024-02-01T09:30:00"},
            "type": [{"text": "Office visit"}],
        }
    )
    for code, value, unit in (("8302-2", 180, "cm"), ("29463-7", 80, "kg"), ("8310-5", 37, "Cel")):
        practice.add(
            {
                "resourceType": "Observation",
                "id": f"v{code}",
                "status": "final",
                "subject": PATIENT,
                "encounter": {"reference": "Encounter/e1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": unit, "code": unit},
            }
        )

    source, record = read()

    (visit,) = record.appointments
    assert (visit.id, visit.reason, visit.duration_minutes) == ("encounter-e1", "Office visit", 30)
    assert visit.vitals.height_in == Decimal("70.9")
    assert visit.vitals.weight_lb == Decimal("176.4")
    assert visit.vitals.temperature_f == Decimal("98.6")
    assert record.lab_results == []  # the vitals went into the visit
    assert balanced(source, record)


def test_statements_and_referenced_medications_are_medications_and_immunizations_their_own(
    practice, read
):
    practice.add(
        {
            "resourceType": "Medication",
            "id": "m1",
            "code": {
                "text": "Metformin 500 mg",
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861007"}
                ],
            },
        }
    )
    practice.add(
        {
            "resourceType": "MedicationRequest",
            "id": "r1",
            "status": "stopped",
            "subject": PATIENT,
            "medicationReference": {"reference": "Medication/m1"},
            "authoredOn": "2023-01-02",
        }
    )
    practice.add(
        {
            "resourceType": "MedicationStatement",
            "id": "r1",
            "status": "active",
            "subject": PATIENT,
            "medicationCodeableConcept": {"text": "Aspirin 81 mg"},
            "effectivePeriod": {"start": "2022-05-01"},
        }
    )
    practice.add(
        {
            "resourceType": "Immunization",
            "id": "r1",
            "status": "completed",
            "patient": PATIENT,
            "occurrenceDateTime": "2024-10-01",
            "vaccineCode": {
                "text": "Influenza",
                "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "158"}],
            },
        }
    )
    practice.add(
        {
            "resourceType": "MedicationRequest",
            "id": "r2",
            "status": "active",
            "subject": PATIENT,
            "medicationReference": {"reference": "Medication/gone"},
        }
    )

    source, record = read()

    assert [(m.id, m.name, m.rxnorm, m.status) for m in record.medications] == [
        ("r1", "Metformin 500 mg", "861007", "discontinued"),
        ("statement-r1", "Aspirin 81 mg", "", "active"),
    ]
    (flu,) = record.immunizations
    assert (flu.id, flu.vaccine, flu.cvx_code, flu.status) == (
        "immunization-r1",
        "Influenza",
        "158",
        "completed",
    )
    assert flu.administered_on == date(2024, 10, 1)
    ((category, record_id, reason),) = [
        (f.category, f.record_id, f.reason) for f in record.failures
    ]
    assert (category, record_id) == (Category.MEDICATIONS, "r2")
    assert reason == "MedicationRequest r2: the medication is not named"
    assert balanced(source, record)


def card(card_id: str, coverage: str, title: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": card_id,
        "status": "current",
        "subject": PATIENT,
        "type": {"coding": [{"system": "http://loinc.org", "code": "64290-0"}]},
        "context": {"related": [{"reference": f"Coverage/{coverage}"}]},
        "content": [
            {
                "attachment": {
                    "contentType": "image/jpeg",
                    "title": title,
                    "data": base64.b64encode(b"\xff\xd8\xff").decode(),
                }
            }
        ],
    }


def test_card_images_go_on_their_coverage_and_those_that_fit_no_card_fail(practice, read):
    practice.add(
        {
            "resourceType": "Coverage",
            "id": "c1",
            "status": "active",
            "order": 2,
            "beneficiary": PATIENT,
            "payor": [{"display": "Aetna"}],
        }
    )
    practice.add(card("k1", "c1", "front"))
    practice.add(card("k2", "c1", "back"))
    practice.add(card("k3", "c1", "back"))
    practice.add(card("k4", "other", "front"))

    source, record = read()

    (insurance,) = record.insurances
    assert (insurance.company, insurance.priority.value, insurance.is_current) == (
        "Aetna",
        "secondary",
        True,
    )
    assert b"".join(insurance.card_front.chunks()) == b"\xff\xd8\xff"
    assert insurance.card_back is not None
    assert sorted((f.record_id, f.reason) for f in record.failures) == [
        ("k3", "a second image of the card's back"),
        ("k4", "names no insurance of the patient"),
    ]
    assert balanced(source, record)


def ccda(document_id: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": document_id,
        "status": "current",
        "subject": PATIENT,
        "date": day,
        "description": "Summary of care",
        "content": [
            {
                "format": CCDA_FORMAT,
                "attachment": {
                    "contentType": "application/xml",
                    "data": base64.b64encode(
                        f"<ClinicalDocument id='{document_id}'/>".encode()
                    ).decode(),
                },
            }
        ],
    }


def test_the_newest_c_cda_is_the_patients_and_older_ones_are_documents(practice, read):
    practice.add(ccda("old", "2020-01-01"))
    practice.add(ccda("new", "2024-01-01"))

    source, record = read()

    assert b"id='new'" in b"".join(record.ccda.chunks())
    assert [(d.id, d.description) for d in record.documents] == [("old", "Summary of care")]
    assert balanced(source, record)


def test_a_ccd_known_by_its_type_alone_is_the_patients_c_cda(practice, read):
    document = ccda("ccd", "2024-01-01")
    del document["content"][0]["format"]
    document["type"] = {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]}
    practice.add(document)

    source, record = read()

    assert record.ccda is not None and record.documents == []
    assert balanced(source, record)


def test_a_lab_report_without_its_results_is_a_result_of_its_own(practice, read):
    practice.add(
        {
            "resourceType": "DiagnosticReport",
            "id": "d1",
            "status": "final",
            "subject": PATIENT,
            "code": {"text": "Lipid panel"},
            "performer": [{"display": "HealthGorilla"}],
            "result": [{"reference": "Observation/elsewhere"}],
            "conclusion": "Normal",
            "presentedForm": [{"contentType": "application/pdf", "url": "Binary/x"}],
        }
    )

    source, record = read()

    (result,) = record.lab_results
    assert (result.id, result.test_name, result.comments) == ("report-d1", "Lipid panel", "Normal")
    assert result.is_integration and result.report is not None
    assert balanced(source, record)


def test_inline_data_that_is_not_base64_is_unavailable(practice, read):
    practice.add(
        {
            "resourceType": "DocumentReference",
            "id": "x1",
            "status": "current",
            "subject": PATIENT,
            "content": [{"attachment": {"contentType": "application/pdf", "data": "not*base64"}}],
        }
    )

    _, record = read()

    with pytest.raises(RecordUnavailable, match="DocumentReference x1 file is not valid base64"):
        b"".join(record.documents[0].file.chunks())


def test_names_come_from_the_referenced_practitioner_or_organization(practice, read):
    practice.add({"resourceType": "Organization", "id": "o1", "name": "Cigna"})
    practice.add(
        {"resourceType": "Practitioner", "id": "d1",
         "name": [{"given": ["Ann"], "family": "Lee", "suffix": ["MD"]}]}
    )  # fmt: skip
    practice.add(
        {"resourceType": "Coverage", "id": "c1", "status": "cancelled",
         "beneficiary": PATIENT, "payor": [{"reference": "Organization/o1"}]}
    )  # fmt: skip
    practice.add(
        {"resourceType": "Appointment", "id": "a1", "status": "booked",
         "start": "2025-07-01T10:00:00Z", "end": "2025-07-01T10:20:00Z",
         "participant": [{"actor": PATIENT}, {"actor": {"reference": "Practitioner/d1"}}]}
    )  # fmt: skip

    source, record = read()

    (insurance,) = record.insurances
    assert (insurance.company, insurance.is_current) == ("Cigna", False)
    (appointment,) = record.appointments
    assert (appointment.provider, appointment.status, appointment.duration_minutes) == (
        "Ann Lee, MD",
        "Scheduled",
        20,
    )
    assert balanced(source, record)


def lab_observation(observation_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": observation_id,
        "status": "final",
        "subject": PATIENT,
        "code": {"text": "Potassium"},
        "valueQuantity": {"value": 4.1, "unit": "mmol/L"},
    }


def lab_report(report_id: str, *result_ids: str, pdf: bytes | None) -> dict[str, Any]:
    report = {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "status": "final",
        "subject": PATIENT,
        "code": {"text": f"Panel {report_id}"},
        "result": [{"reference": f"Observation/{r}"} for r in result_ids],
    }
    if pdf is not None:
        encoded = base64.b64encode(pdf).decode()
        report["presentedForm"] = [{"contentType": "application/pdf", "data": encoded}]
    return report


def pdf_of(result) -> bytes | None:
    return None if result.report is None else b"".join(result.report.chunks())


def test_every_report_naming_the_same_result_reaches_the_deliverable_with_its_pdf(practice, read):
    practice.add(lab_observation("o1"))
    practice.add(lab_report("d1", "o1", pdf=b"%PDF first report"))
    practice.add(lab_report("d2", "o1", pdf=b"%PDF corrected report"))

    source, record = read()

    pdfs = {result.id: pdf_of(result) for result in record.lab_results}
    # The result carries the first report's PDF; the second, whose result already holds one,
    # is a result of its own with its PDF: neither is dropped.
    assert pdfs == {"o1": b"%PDF first report", "report-d2": b"%PDF corrected report"}
    assert balanced(source, record)


def test_a_report_without_a_pdf_does_not_take_the_place_of_one_with_a_pdf(practice, read):
    practice.add(lab_observation("o1"))
    practice.add(lab_observation("o2"))
    practice.add(lab_report("d0", "o1", pdf=None))
    practice.add(lab_report("d1", "o1", "o2", pdf=b"%PDF the panel"))
    practice.add(lab_report("d2", "o2", "o1", pdf=b"%PDF an addendum"))

    source, record = read()

    pdfs = {result.id: pdf_of(result) for result in record.lab_results}
    assert pdfs == {
        "o1": b"%PDF the panel",
        "o2": b"%PDF the panel",
        "report-d2": b"%PDF an addendum",
    }
    assert balanced(source, record)


def test_a_report_with_several_files_ships_each_of_them(practice, read):
    practice.add(lab_observation("o1"))
    report = lab_report("d1", "o1", pdf=b"%PDF the report")
    report["presentedForm"].append(
        {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF page two").decode()}
    )
    practice.add(report)
    alone = lab_report("d2", "elsewhere", pdf=b"%PDF alone")
    alone["presentedForm"].append(
        {"contentType": "text/html", "data": base64.b64encode(b"<p>alone</p>").decode()}
    )
    practice.add(alone)

    source, record = read()

    pdfs = {result.id: pdf_of(result) for result in record.lab_results}
    assert pdfs == {
        "o1": b"%PDF the report",
        "report-d1-file-2": b"%PDF page two",
        "report-d2": b"%PDF alone",
        "report-d2-file-2": b"<p>alone</p>",
    }
    assert balanced(source, record)
