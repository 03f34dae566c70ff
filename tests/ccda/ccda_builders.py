"""Small builders of patient records and CCD arguments for the C-CDA tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from lxml import etree

from exports.ccda import AuthoringSystem, Organization, build_ccd
from exports.sources.records import (
    Address,
    Allergy,
    Appointment,
    Demographics,
    Immunization,
    LabResult,
    LabSource,
    Medication,
    PatientRecord,
    PatientStatus,
    Problem,
    Vitals,
)

NS = {"cda": "urn:hl7-org:v3", "sdtc": "urn:hl7-org:sdtc"}
RECORD_ID_ROOT = "2.16.840.1.113883.3.9999.2"
PRACTICE = Organization(
    name="Springfield Family Practice",
    id_root="2.16.840.1.113883.4.6",
    id_extension="1234567893",
    phone="(217) 555-0100",
    address=Address("5 Clinic Road", "", "Springfield", "IL", "62701"),
)
EXPORT_PORTAL = AuthoringSystem(
    software_name="Export Portal",
    manufacturer_model_name="Export Portal 0.1",
    id_root="2.16.840.1.113883.3.9999.1",
)
GENERATED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def demographics(**changes: object) -> Demographics:
    return replace(
        Demographics(
            id="p-1",
            chart_id="CH-0001",
            first_name="Ada",
            last_name="Lovelace",
            date_of_birth=date(1980, 12, 10),
            date_of_birth_text="1980-12-10",
            status=PatientStatus.ACTIVE,
            gender="Female",
            email="ada@example.org",
            home_phone="(217) 555-0101",
            address=Address("1 Main St", "Apt 2", "Springfield", "IL", "62701"),
            race="White",
            ethnicity="not_hispanic",
            preferred_language="eng",
        ),
        **changes,
    )


def medication(id: str = "m-1", **changes: object) -> Medication:
    return replace(
        Medication(
            id=id,
            name="Lisinopril 10 MG Oral Tablet",
            rxnorm="314076",
            dosage_quantity="1",
            dosage_units="tablet",
            frequency="once daily",
            status="active",
            date_started=date(2019, 3, 1),
        ),
        **changes,
    )


def allergy(id: str = "a-1", **changes: object) -> Allergy:
    return replace(
        Allergy(
            id=id,
            description="Penicillin",
            reaction="Hives",
            severity="Moderate",
            status="active",
            rxnorm="7980",
            snomed_reaction="247472004",
            onset_date=date(2001, 5, 5),
        ),
        **changes,
    )


def problem(id: str = "pr-1", **changes: object) -> Problem:
    return replace(
        Problem(
            id=id,
            name="Type 2 diabetes mellitus",
            icd10_code="E11.9",
            snomed_code="44054006",
            status="active",
            date_onset=date(2015, 1, 1),
        ),
        **changes,
    )


def immunization(id: str = "im-1", **changes: object) -> Immunization:
    return replace(
        Immunization(
            id=id,
            vaccine="influenza, injectable, quadrivalent, preservative free",
            cvx_code="150",
            administered_on=date(2022, 10, 3),
            status="completed",
            lot_number="FL2291",
        ),
        **changes,
    )


def lab_result(id: str = "l-1", **changes: object) -> LabResult:
    return replace(
        LabResult(
            id=id,
            source=LabSource.QUEST,
            test_name="Hemoglobin A1c",
            date_performed=date(2023, 1, 10),
            vendor="Quest Diagnostics",
            order_id="o-1",
            loinc_code="4548-4",
            value="7.1",
            units="%",
            normal_range="4.0-5.6",
            abnormal_flag="H",
            status="F",
        ),
        **changes,
    )


def vitals(**changes: object) -> Vitals:
    return replace(
        Vitals(
            height_in=Decimal("65.5"),
            weight_lb=Decimal("150.2"),
            bmi=Decimal("24.6"),
            systolic_mmhg=120,
            diastolic_mmhg=80,
            pulse_bpm=70,
            temperature_f=Decimal("98.6"),
            respiratory_rate=16,
            oxygen_saturation=98,
            pain=2,
            smoking_status="Former smoker",
        ),
        **changes,
    )


def appointment(id: str = "ap-1", **changes: object) -> Appointment:
    return replace(
        Appointment(
            id=id,
            scheduled_time=datetime(2023, 1, 10, 9, 30),
            duration_minutes=30,
            reason="Annual physical",
            provider="Dr. Grace Hopper",
            office="Main office",
            status="Complete",
            icd10_codes=("E11.9", "I10"),
            vitals=vitals(),
            notes="Doing well.",
        ),
        **changes,
    )


def rich_record(**demographic_changes: object) -> PatientRecord:
    """A patient with some of everything, coded and uncoded, as sources give them."""
    return PatientRecord(
        demographics=demographics(**demographic_changes),
        medications=[
            medication(),
            medication(
                "m-2",
                name="Compounded hydrocortisone cream",
                rxnorm="",
                ndc="00093-1111-01",
                dosage_quantity="2.5",
                dosage_units="mg",
                status="discontinued",
                date_started=None,
                date_prescribed=date(2016, 1, 1),
                date_stopped=date(2017, 1, 1),
            ),
            medication("m-3", name="Fish oil", rxnorm="", dosage_quantity="a spoonful"),
        ],
        allergies=[
            allergy(),
            allergy("a-2", description="Peanuts", rxnorm="", snomed_code="", reaction=""),
            allergy("a-3", description="NKDA", rxnorm="", snomed_reaction="", reaction=""),
        ],
        problems=[
            problem(),
            problem(
                "pr-2",
                name="Fracture of radius",
                icd10_code="S52.501A",
                snomed_code="",
                status="resolved",
                date_resolved=date(2012, 3, 3),
            ),
            problem("pr-3", name="Feels tired", icd10_code="", snomed_code="", status=""),
        ],
        lab_results=[
            lab_result(),
            lab_result(
                "l-2",
                test_name="Glucose",
                loinc_code="2345-7",
                value="130",
                units="mg/dL",
                normal_range="70-99",
            ),
            lab_result(
                "l-3",
                source=LabSource.MANUAL,
                test_name="Rapid strep",
                order_id="",
                loinc_code="",
                value="Negative",
                units="",
                normal_range="Negative",
                abnormal_flag="",
                status="",
                date_performed=None,
            ),
            lab_result(
                "l-4",
                source=LabSource.LABCORP,
                order_id="o-2",
                test_name="WBC",
                loinc_code="6690-2",
                value="5.4",
                units="x10E3/uL",
                status="P",
            ),
        ],
        appointments=[
            appointment(),
            appointment("ap-2", scheduled_time=datetime(2023, 2, 1, 10), status="Cancelled"),
            appointment(
                "ap-3",
                vitals=vitals(smoking_status="vapes on weekends"),
                scheduled_time=datetime(2023, 3, 1, 8),
            ),
        ],
    )


def empty_record(**demographic_changes: object) -> PatientRecord:
    return PatientRecord(demographics=demographics(**demographic_changes))


def ccd(record: PatientRecord, **changes: object) -> bytes:
    arguments: dict[str, object] = {
        "custodian": PRACTICE,
        "author": EXPORT_PORTAL,
        "record_id_root": RECORD_ID_ROOT,
        "document_id": f"export-7/{record.id}",
        "effective_time": GENERATED_AT,
    }
    return build_ccd(record, **(arguments | changes))  # type: ignore[arg-type]


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def entry_ids(document: bytes, kind: str) -> list[str]:
    """The source ids of the entries of one kind (``<id extension="kind/<source id>">``)."""
    prefix = f"{kind}/"
    return [
        extension[len(prefix) :]
        for extension in parse(document).xpath("//cda:id/@extension", namespaces=NS)
        if extension.startswith(prefix)
    ]
