"""A loopback DrChrono REST API v4 for tests: a real HTTP server on 127.0.0.1, a random port.

It serves a small synthetic practice in the documented shapes (OpenAPI field names), with the
OAuth token endpoint (each renewal rotates the refresh token and retires the old pair), cursor
paging with full ``next`` URLs, DrChrono's page_size caps (250, 25 with ``verbose``), the
appointments date rules, ``show_inactive``, C-CDA documents and files (real small PDFs and
JPEGs). List pages carry the list's ``count`` when asked (the OpenAPI document shows none).
The asynchronous bulk lists (``patients_list``, ``appointments_list``: POST, poll the uuid, up
to 1,000 a page) answer as DrChrono's support note describes. Files are served from signed
URLs (an expiry and a signature in the query, as file storage hands them out), and access
tokens stop working when their lifetime (``expires_in``, may be short) is over.
Faults are switched on per test: statuses (429 with and without Retry-After, 500s), malformed
JSON, truncated downloads, a ``next`` link that skips a page, an expired access token, a
record with a malformed field, an endpoint refused for good (403/404: a missing scope).

    with FakeDrChrono() as server:
        client = ... server.base_url, server.token_url, server.tokens() ...
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fpdf import FPDF
from PIL import Image

from exports.sources.drchrono.client import ClientSettings, OAuthTokens, renewed_elsewhere

from .loopback import LoopbackHandler, LoopbackServer

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 250
MAX_VERBOSE_PAGE_SIZE = 25
MAX_DATE_RANGE_DAYS = 190
MAX_BULK_PAGE_SIZE = 1000
#: how long a signed file URL works after the list that handed it out was read
SIGNED_URL_SECONDS = 3600
_SIGNING_KEY = b"fake-file-storage"
#: an access token's expiry far enough away that only a 401 makes a client renew it
NEVER_EXPIRES = datetime(2100, 1, 1, tzinfo=UTC)

#: Appointment fields DrChrono returns only with verbose=true.
VERBOSE_APPOINTMENT_FIELDS = ("clinical_note", "vitals", "custom_vitals", "reminders")

#: The list endpoints the fake serves, by path.
LIST_ENDPOINTS = (
    "doctors",
    "offices",
    "patients",
    "sublabs",
    "lab_orders",
    "lab_tests",
    "lab_documents",
    "lab_results",
    "medications",
    "allergies",
    "problems",
    "patient_vaccine_records",
    "documents",
    "patient_lab_results",
    "patient_messages",
    "messages",
    "patient_payments",
    "appointments",
)

#: The asynchronous bulk lists the fake serves, and the paged list each mirrors.
BULK_ENDPOINTS = {"patients_list": "patients", "appointments_list": "appointments"}


@functools.cache
def pdf_bytes(title: str) -> bytes:
    """A real one-page PDF."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text=title)
    return bytes(pdf.output())


@functools.cache
def jpeg_bytes(shade: int) -> bytes:
    """A real (tiny) JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade % 256, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


@dataclass
class FakeFile:
    content: bytes
    content_type: str


@dataclass
class FakePractice:
    """The practice's objects by list endpoint, and its files by URL path."""

    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, FakeFile] = field(default_factory=dict)
    #: patients whose C-CDA breaks the CDA schema (it lacks the required custodian)
    invalid_ccda_patients: set[str] = field(default_factory=set)
    #: patients whose C-CDA passes the CDA schema but fails the C-CDA R2.1 Schematron
    schematron_failing_ccda_patients: set[str] = field(default_factory=set)
    #: patient id -> the patient whose C-CDA the server gives instead (a mixed-up chart)
    ccda_of_another_patient: dict[str, str] = field(default_factory=dict)

    def objects(self, endpoint: str) -> list[dict[str, Any]]:
        return self.lists.setdefault(endpoint, [])

    def add_file(self, name: str, content: bytes, content_type: str) -> str:
        """Store a file; returns its path (the server makes it a full URL)."""
        path = f"/media/{name}"
        self.files[path] = FakeFile(content, content_type)
        return path


def build_practice(
    *, malformed_record: bool = False, vaccine_of_unknown_patient: bool = False
) -> FakePractice:
    """A small synthetic practice: five patients (two active, one inactive, one deceased,
    one active without a readable birth date), with insurance and card images, a photo,
    medications, allergies, problems, appointments with vitals and notes (locked and not),
    documents, manual and ordered lab results (Quest and an integration network), portal
    messages with attachments, a message center of many types (faxes and referrals, incoming
    labs, Direct and patient messages, a generated report; one fax and the report tied to no
    patient), payments, and a break. The appointments the calendar's edges hide: one from
    1995 (imported history: before the patient's ``date_of_first_appointment``), one booked
    for 2030, and one deleted from the calendar that still carries a signed note.

    File fields hold paths; the server turns them into absolute URLs as DrChrono does.
    """
    practice = FakePractice()
    practice.objects("doctors").append(
        {"id": 101, "first_name": "Ada", "last_name": "Quill", "specialty": "Internist"}
    )
    practice.objects("offices").append(
        {"id": 201, "name": "Harbour Street Clinic", "doctor": "101", "archived": False}
    )
    practice.objects("sublabs").extend(
        [
            {"id": 301, "name": "Quest East", "facility_code": "QE", "vendor_name": "Quest"},
            {"id": 302, "name": "HG", "facility_code": "HG1", "vendor_name": "HealthGorilla"},
        ]
    )
    people = [
        (1, "A", "Alice", "Example", "1980-02-29", "Female"),
        (2, "A", "Bob", "Sample", "1975-07-04", "Male"),
        (3, "I", "Carol", "Test", "1990-12-31", "Female"),
        (4, "D", "Dan", "Demo", "1931-01-15", "Male"),
        (5, "A", "Eve", "Nodate", "", "Other"),
    ]
    for number, status, first, last, born, gender in people:
        _add_patient(practice, number, status, first, last, born, gender)
    practice.invalid_ccda_patients.add("5")
    practice.objects("patient_vaccine_records").extend(
        [
            vaccine_record(1300, 5, "Influenza, injectable, quadrivalent", "150"),
            # DrChrono requires a CVX code, but an imported record may have none
            vaccine_record(1301, 5, "Tdap booster (outside record)", "", status="RE"),
        ]
    )
    if vaccine_of_unknown_patient:
        practice.objects("patient_vaccine_records").append(
            vaccine_record(1399, 99, "Hepatitis B, adult", "43")
        )
    _add_message_center(practice)
    _add_appointment(practice, "5100", 2, "1995-03-14T10:00:00", "locked", changed=_IMPORTED)
    _add_appointment(practice, "5101", 3, "2030-01-15T09:00:00", None)
    _add_appointment(practice, "5102", 1, "2022-02-02T11:00:00", "locked", deleted=True)
    practice.objects("appointments").append(
        {
            "id": "9000",
            "patient": None,  # a calendar break: not patient data
            "appt_is_break": True,
            "doctor": 101,
            "office": 201,
            "exam_room": 1,
            "scheduled_time": "2021-03-01T12:00:00",
            "duration": 60,
            "created_at": "2021-01-01T08:00:00",
            "updated_at": "2021-01-01T08:00:00",
        }
    )
    if malformed_record:
        practice.objects("problems").append(
            {
                "id": 7777,
                "patient": 2,
                "doctor": 101,
                "name": "Condition with a broken onset",
                "status": "active",
                "date_onset": "31/02/2019",
            }
        )
    return practice


def _add_patient(
    practice: FakePractice,
    number: int,
    status: str,
    first: str,
    last: str,
    born: str,
    gender: str,
) -> None:
    patient_id = number
    patient: dict[str, Any] = {
        "id": patient_id,
        "chart_id": f"{last[:4].upper()}{number:06d}",
        "first_name": first,
        "last_name": last,
        "middle_name": "",
        "nick_name": "",
        "date_of_birth": born,
        "gender": gender,
        "patient_status": status,
        "email": f"{first.lower()}@example.org",
        "home_phone": f"555-010{number}",
        "cell_phone": "",
        "address": f"{number} Elm Street",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "social_security_number": "",
        "race": "white" if number % 2 else "blank",
        "ethnicity": "not_hispanic",
        "preferred_language": "eng",
        "doctor": 101,
        "date_of_first_appointment": "2019-05-02",
        "created_at": "2019-05-01T09:00:00",
        "updated_at": "2024-01-01T09:00:00",
    }
    if status == "D":
        patient["date_of_death"] = "2023-08-09"
    if number == 1:
        patient["patient_photo"] = practice.add_file(
            "patients/1/photo.jpg", jpeg_bytes(10), "image/jpeg"
        )
        patient["patient_photo_date"] = "2020-01-02"
        patient["primary_insurance"] = {
            "insurance_company": "Acme Health",
            "insurance_payer_id": "60054",
            "insurance_plan_name": "Acme Gold",
            "insurance_plan_type": "HM",
            "insurance_id_number": "ACM123456",
            "insurance_group_name": "Widgets Inc",
            "insurance_group_number": "G-42",
            "subscriber_first_name": first,
            "subscriber_last_name": last,
            "is_subscriber_the_patient": True,
            "patient_relationship_to_subscriber": "",
            "photo_front": practice.add_file("cards/1-front.jpg", jpeg_bytes(20), "image/jpeg"),
            "photo_back": practice.add_file("cards/1-back.jpg", jpeg_bytes(30), "image/jpeg"),
        }
        patient["secondary_insurance"] = {
            "insurance_company": "Second Mutual",
            "insurance_id_number": "SM-9",
            "photo_front": "",
            "photo_back": "",
        }
        patient["tertiary_insurance"] = {"insurance_company": "", "photo_front": ""}
    practice.objects("patients").append(patient)

    practice.objects("medications").append(
        {
            "id": 1000 + number,
            "patient": patient_id,
            "doctor": 101,
            "name": "Lisinopril 10 MG Oral Tablet",
            "rxnorm": "314076",
            "dosage_quantity": "1",
            "dosage_units": "tablet",
            "frequency": "daily",
            "route": "oral",
            "status": "active",
            "date_prescribed": "2020-03-04",
            "date_started_taking": "2020-03-05",
        }
    )
    practice.objects("allergies").append(
        {
            "id": 1100 + number,
            "patient": patient_id,
            "doctor": 101,
            "description": "Penicillin",
            "reaction": "Hives",
            "status": "active",
            "rxnorm": "7980",
        }
    )
    practice.objects("problems").append(
        {
            "id": 1200 + number,
            "patient": patient_id,
            "doctor": 101,
            "name": "Essential hypertension",
            "icd_code": "I10",
            "icd_version": "10",
            "status": "active",
            "date_onset": "2018-06-01",
        }
    )
    # Appointments spread over years.
    for index, (scheduled, note) in enumerate(
        [
            (f"{2019 + number}-05-02T09:30:00", "locked"),
            (f"{2019 + number}-11-20T14:00:00", "unlocked"),
            (f"{2020 + number}-08-15T10:15:00", None),
        ]
    ):
        _add_appointment(practice, f"{5000 + number * 10 + index}", patient_id, scheduled, note)

    practice.objects("documents").extend(
        [
            {
                "id": 1300 + number,
                "patient": patient_id,
                "doctor": 101,
                "date": "2021-02-03",
                "description": "Referral letter",
                "metatags": json.dumps(["referral", "cardiology"]),
                "archived": False,
                "document": practice.add_file(
                    f"documents/{1300 + number}.pdf",
                    pdf_bytes(f"Document {1300 + number}"),
                    "application/pdf",
                ),
            },
            {
                "id": 1400 + number,
                "patient": patient_id,
                "doctor": 101,
                "date": "2022-04-05",
                "description": "Wound photo",
                "metatags": "",
                "archived": False,
                "document": practice.add_file(
                    f"documents/{1400 + number}.jpg", jpeg_bytes(number), "image/jpeg"
                ),
            },
        ]
    )
    practice.objects("patient_lab_results").append(
        {
            "id": 1500 + number,
            "patient": patient_id,
            "ordering_doctor": 101,
            "title": "Hemoglobin A1c",
            "loinc_code": "4548-4",
            "lab_result_value": "5.6",
            "lab_result_value_units": "%",
            "lab_normal_range": "4.0-5.6",
            "lab_abnormal_flag": "",
            "date_test_performed": "2021-06-07",
            "lab_order_status": "Results Received",
            "doctor_comments": "",
            "scanned_in_result": practice.add_file(
                f"labs/{1500 + number}.pdf", pdf_bytes(f"Lab {1500 + number}"), "application/pdf"
            ),
        }
    )
    if number in (1, 3):
        _add_lab_order(practice, patient_id, sublab=301 if number == 1 else 302)
    practice.objects("patient_messages").append(
        {
            "id": 1600 + number,
            "patient": patient_id,
            "doctor": 101,
            "subject": "Question about my prescription",
            "body": "Can I take it with food?",
            "created_at": "2022-09-10T08:00:00",
            "attachments": [
                {
                    "attachment": practice.add_file(
                        f"attachments/{1600 + number}.pdf",
                        pdf_bytes(f"Attachment {1600 + number}"),
                        "application/pdf",
                    ),
                    "doctor": 101,
                    "created_at": "2022-09-10T08:00:00",
                }
            ],
        }
    )
    practice.objects("patient_payments").append(
        {
            "id": 1700 + number,
            "patient": patient_id,
            "doctor": 101,
            "amount": 25.5,
            "payment_method": "CRDT",
            "payment_transaction_type": "COPAY",
            "received_date": "2021-05-02",
            "posted_date": "2021-05-03",
            "trace_number": f"T{number}",
            "notes": "",
        }
    )


#: when the practice's history was imported into DrChrono
_IMPORTED = "2019-05-01T09:00:00"

#: DrChrono sublab ids of the demo mix's lab vendors
_MIX_SUBLABS = {"quest": 311, "labcorp": 312, "integration": 313}


def vaccine_record(
    record_id: int, patient_id: int, name: str, cvx: str, *, status: str = "CP"
) -> dict[str, Any]:
    """A ``patient_vaccine_records`` record as DrChrono gives it."""
    return {
        "id": record_id,
        "patient": patient_id,
        "doctor": 101,
        "ordering_doctor": 101,
        "name": name,
        "cvx_code": cvx,
        "completion_status": status,
        "administration_start": "2023-10-02T10:15:00",
        "lot_number": "LOT-7A21",
        "manufacturer": "Sanofi Pasteur",
        "amount": 0.5,
        "units": "mL",
        "route": "Intramuscular",
        "site": "Left deltoid",
        "comments": "",
    }


def build_demo_mix_practice(patients: int, *, seed: int = 1) -> FakePractice:
    """A practice of ``patients`` patients with the demo practice's record mix (the record
    counts ``exports.sources.demo.plan_patient`` draws), in DrChrono's shapes: for the
    benchmark of API calls and for exports that must outlast an hour's allowance. Records
    are plain (no hard cases); files are small and share their bytes in memory."""
    from exports.sources.demo import NoteState, plan_patient
    from exports.sources.records import LabSource

    practice = FakePractice()
    practice.objects("doctors").append({"id": 101, "first_name": "Ada", "last_name": "Quill"})
    practice.objects("offices").append({"id": 201, "name": "Harbour Street Clinic"})
    practice.objects("sublabs").extend(
        [
            {"id": 311, "name": "Quest East", "vendor_name": "Quest"},
            {"id": 312, "name": "LabCorp", "vendor_name": "LabCorp"},
            {"id": 313, "name": "HG", "vendor_name": "HealthGorilla"},
        ]
    )
    pdf, jpeg = pdf_bytes("Demo file"), jpeg_bytes(1)
    serial = iter(range(100_000, 10**9))

    def file(kind: str, extension: str = "pdf") -> str:
        content, media = (pdf, "application/pdf") if extension == "pdf" else (jpeg, "image/jpeg")
        return practice.add_file(f"{kind}/{next(serial)}.{extension}", content, media)

    for index in range(patients):
        plan = plan_patient(seed, index)
        patient_id = index + 1
        patient: dict[str, Any] = {
            "id": patient_id,
            "chart_id": f"MIX{patient_id:06d}",
            "first_name": f"Pat{patient_id}",
            "last_name": "Mix",
            "date_of_birth": "1970-01-01",
            "gender": "Female",
            "patient_status": "A",
            "doctor": 101,
        }
        if plan.has_images:
            patient["patient_photo"] = file("photos", "jpg")
        for priority in ("primary", "secondary", "tertiary")[: plan.current_insurances]:
            coverage = {"insurance_company": "Acme Health", "insurance_id_number": "A1"}
            if plan.has_images:
                coverage["photo_front"] = file("cards", "jpg")
                coverage["photo_back"] = file("cards", "jpg")
            patient[f"{priority}_insurance"] = coverage
        practice.objects("patients").append(patient)
        for number, state in enumerate(plan.notes):
            note = {NoteState.LOCKED: "locked", NoteState.UNLOCKED: "unlocked"}.get(state)
            _add_appointment(
                practice, f"{patient_id}{number:03d}", patient_id, "2021-05-02T09:30:00", note
            )
        for endpoint, how_many, fields in (
            ("medications", plan.medications, {"name": "Aspirin 81 MG", "status": "active"}),
            ("allergies", plan.allergies, {"description": "Penicillin", "status": "active"}),
            ("problems", plan.problems, {"name": "Hypertension", "icd_code": "I10"}),
            ("patient_payments", plan.payments, {"amount": 10.0, "received_date": "2021-05-02"}),
        ):
            practice.objects(endpoint).extend(
                {"id": next(serial), "patient": patient_id, "doctor": 101, **fields}
                for _ in range(how_many)
            )
        practice.objects("patient_vaccine_records").extend(
            vaccine_record(next(serial), patient_id, "Influenza", "150")
            for _ in range(sum(plan.vaccinations))
        )
        practice.objects("documents").extend(
            {"id": next(serial), "patient": patient_id, "doctor": 101, "date": "2021-02-03",
             "description": "Letter", "metatags": "", "document": file("documents")}
            for _ in range(plan.documents)
        )  # fmt: skip
        ordered = [source for source in plan.lab_sources if source is not LabSource.MANUAL]
        practice.objects("patient_lab_results").extend(
            {"id": next(serial), "patient": patient_id, "ordering_doctor": 101,
             "title": "Hemoglobin A1c", "date_test_performed": "2021-06-07",
             "scanned_in_result": file("labs")}
            for _ in range(len(plan.lab_sources) - len(ordered))
        )  # fmt: skip
        for vendor in sorted({source.value for source in ordered}):
            # One order per vendor; its results share the order's one report.
            order_id = next(serial)
            practice.objects("lab_orders").append(
                {"id": order_id, "patient": patient_id, "doctor": 101,
                 "sublab": _MIX_SUBLABS[vendor], "timestamp": "2022-01-10T10:00:00"}
            )  # fmt: skip
            document_id = next(serial)
            practice.objects("lab_documents").append(
                {"id": document_id, "lab_order": order_id, "type": "RES",
                 "document": file("lab_documents")}
            )  # fmt: skip
            for _ in range(sum(source.value == vendor for source in ordered)):
                test_id = next(serial)
                practice.objects("lab_tests").append(
                    {"id": test_id, "lab_order": order_id, "code": "2345-7", "name": "Glucose"}
                )
                practice.objects("lab_results").append(
                    {"id": next(serial), "lab_order": order_id, "lab_test": test_id,
                     "document": document_id, "observation_code": "2345-7", "value": "98",
                     "status": "F", "test_performed": "2022-01-11T09:00:00"}
                )  # fmt: skip
        practice.objects("patient_messages").extend(
            {"id": next(serial), "patient": patient_id, "doctor": 101, "subject": "Question",
             "body": "Hello", "created_at": "2022-09-10T08:00:00",
             "attachments": [{"attachment": file("attachments")} for _ in range(attachments)]}
            for attachments in plan.message_attachments
        )  # fmt: skip
        practice.objects("messages").extend(
            {"id": next(serial), "type": "IF", "patient": patient_id, "doctor": 101,
             "title": "Fax", "received_at": "2023-02-03T11:00:00", "attachment": file("faxes")}
            for _ in range(plan.faxes)
        )  # fmt: skip
    return practice


def _add_appointment(
    practice: FakePractice,
    appointment_id: str,
    patient_id: int,
    scheduled: str,
    note: str | None,
    *,
    changed: str | None = None,
    deleted: bool = False,
) -> None:
    """An appointment with vitals; ``note`` is "locked", "unlocked" or None (no note)."""
    appointment: dict[str, Any] = {
        "id": appointment_id,
        "patient": patient_id,
        "doctor": 101,
        "office": 201,
        "exam_room": 1,
        "scheduled_time": scheduled,
        "duration": 30,
        "reason": "Follow-up",
        "status": "Complete",
        "icd10_codes": ["I10"],
        "notes": "",
        "appt_is_break": False,
        "deleted_flag": deleted,
        "created_at": changed or scheduled,
        "updated_at": changed or scheduled,
        "vitals": {
            "height": 65.0,
            "height_units": "inches",
            "weight": 150.5,
            "weight_units": "lbs",
            "blood_pressure_1": 120,
            "blood_pressure_2": 80,
            "pulse": 72,
            "temperature": 98.6,
            "temperature_units": "f",
            "oxygen_saturation": 98.0,
            "smoking_status": "blank",
        },
        "custom_vitals": [],
    }
    if note == "locked":
        appointment["clinical_note"] = {
            "locked": True,
            "pdf": practice.add_file(
                f"notes/{appointment_id}.pdf",
                pdf_bytes(f"Clinical note {appointment_id}"),
                "application/pdf",
            ),
            "updated_at": scheduled,
        }
    elif note == "unlocked":
        appointment["clinical_note"] = {"locked": False, "updated_at": scheduled}
    practice.objects("appointments").append(appointment)


def _add_lab_order(practice: FakePractice, patient_id: int, *, sublab: int) -> None:
    order_id = 1800 + patient_id
    practice.objects("lab_orders").append(
        {
            "id": order_id,
            "patient": patient_id,
            "doctor": 101,
            "sublab": sublab,
            "status": "F",
            "priority": "N",
            "timestamp": "2022-01-10T10:00:00",
        }
    )
    practice.objects("lab_tests").append(
        {
            "id": order_id + 100,
            "lab_order": order_id,
            "code": "2345-7",
            "name": "Glucose",
            "status": "F",
            "collection_date": "2022-01-11",
        }
    )
    practice.objects("lab_documents").append(
        {
            "id": order_id + 200,
            "lab_order": order_id,
            "type": "RES",
            "timestamp": "2022-01-12T10:00:00",
            "document": practice.add_file(
                f"lab_documents/{order_id + 200}.pdf",
                pdf_bytes(f"Results {order_id}"),
                "application/pdf",
            ),
        }
    )
    practice.objects("lab_results").append(
        {
            "id": order_id + 300,
            "lab_order": str(order_id),
            "lab_test": order_id + 100,
            "document": order_id + 200,
            "observation_code": "2345-7",
            "observation_description": "Glucose [Mass/volume] in Serum or Plasma",
            "value": "98",
            "unit": "mg/dL",
            "value_is_numeric": True,
            "normal_range": "70 100",
            "abnormal_status": "N",
            "status": "F",
            "test_performed": "2022-01-11T09:00:00",
        }
    )


def _add_message_center(practice: FakePractice) -> None:
    for message_id, message_type, patient_id, file_name in (
        (1901, "IF", 1, "1901.pdf"),
        (1902, "OF", 1, "1902.pdf"),
        (1903, "IR", 3, "1903.pdf"),
        (1904, "OR", 4, "1904.pdf"),
        (1905, "IF", None, "1905.pdf"),  # not tied to a patient: seen, never exported
        (1906, "PI", 2, "1906.pdf"),  # a patient's message in the doctor's inbox
        (1907, "IL", 1, "1907.pdf"),  # incoming labs
        (1908, "ID", 3, "1908.pdf"),  # an inbound Direct message
        (1909, "PM", 2, None),  # a message to the patient, nothing attached
        (1910, "CN", 4, "1910.pdf"),  # a type the OpenAPI document does not describe
        (1911, "GC", None, "1911.csv"),  # a practice-wide generated report: no patient's
    ):
        message: dict[str, Any] = {
            "id": message_id,
            "type": message_type,
            "doctor": 101,
            "title": f"{message_type} item",
            "received_at": "2023-02-03T11:00:00",
            "archived": False,
            "message_notes": [
                {"text": "Reviewed.", "created_at": "2023-02-04T09:00:00", "created_by": "7"}
            ],
            "attachment": "",
        }
        if file_name is not None:
            content = pdf_bytes(f"Message {message_id}")
            media_type = "application/pdf"
            if file_name.endswith(".csv"):
                content, media_type = b"patient,balance\n", "text/csv"
            message["attachment"] = practice.add_file(f"messages/{file_name}", content, media_type)
        if patient_id is not None:
            message["patient"] = patient_id
        if message_type == "OF":
            message["outgoing_fax_recipient_name"] = "Cardiology Associates"
        practice.objects("messages").append(message)


def ccda_document(
    patient: dict[str, Any], *, valid: bool = True, passes_schematron: bool = True
) -> bytes:
    """The patient's C-CDA as DrChrono would give it: a small CCD (every section "no
    information") that passes the CDA R2 schema and the C-CDA R2.1 Schematron errors phase;
    with ``passes_schematron=False`` one that passes the schema only (its sections lack their
    templates, as several vendors' do); with ``valid=False`` one without the custodian the
    schema requires."""
    born = patient["date_of_birth"].replace("-", "")
    birth = f'<birthTime value="{born}"/>' if born else '<birthTime nullFlavor="UNK"/>'
    gender = {"Male": "M", "Female": "F"}.get(patient["gender"])
    gender_code = (
        f'<administrativeGenderCode code="{gender}" codeSystem="2.16.840.1.113883.5.1"/>'
        if gender
        else '<administrativeGenderCode nullFlavor="UNK"/>'
    )
    custodian = (
        "<custodian><assignedCustodian><representedCustodianOrganization>"
        '<id root="2.16.840.1.113883.3.4424" extension="office-201"/>'
        "<name>Harbour Street Clinic</name>"
        f'<telecom use="WP" value="tel:5555550100"/>{_CLINIC_ADDRESS}'
        "</representedCustodianOrganization></assignedCustodian></custodian>"
    )
    sections = _CCDA_SECTIONS if passes_schematron else _UNTEMPLATED_SECTION
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc">
<realmCode code="US"/>
<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<templateId root="2.16.840.1.113883.10.20.22.1.1"/>
<templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
<templateId root="2.16.840.1.113883.10.20.22.1.2"/>
<templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>
<id root="2.16.840.1.113883.3.4424" extension="ccda-{patient["id"]}"/>
<code code="34133-9" codeSystem="2.16.840.1.113883.6.1"
 displayName="Summarization of Episode Note"/>
<title>Continuity of Care Document</title>
<effectiveTime value="20250601120000-0500"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
<languageCode code="en-US"/>
<recordTarget><patientRole>
<id root="2.16.840.1.113883.3.4424" extension="{patient["id"]}"/>
<addr nullFlavor="UNK"/><telecom nullFlavor="UNK"/>
<patient><name use="L"><given>{patient["first_name"]}</given>\
<family>{patient["last_name"]}</family></name>
{gender_code}{birth}<raceCode nullFlavor="UNK"/><ethnicGroupCode nullFlavor="UNK"/></patient>
</patientRole></recordTarget>
<author><time value="20250601120000-0500"/><assignedAuthor>
<id root="2.16.840.1.113883.4.6" extension="1234567893"/>
{_CLINIC_ADDRESS}<telecom use="WP" value="tel:5555550100"/>
<assignedPerson><name><given>Ada</given><family>Quill</family></name></assignedPerson>
</assignedAuthor></author>
{custodian if valid else ""}
<documentationOf typeCode="DOC"><serviceEvent classCode="PCPR">
<effectiveTime><low value="20190501"/><high value="20250601"/></effectiveTime>
</serviceEvent></documentationOf>
<component><structuredBody>{sections}</structuredBody></component>
</ClinicalDocument>
""".encode()


_CLINIC_ADDRESS = (
    '<addr use="WP"><streetAddressLine>1 Harbour Street</streetAddressLine><city>Portland</city>'
    "<state>ME</state><postalCode>04101</postalCode><country>US</country></addr>"
)
_UNTEMPLATED_SECTION = """<component><section>
<code code="48765-2" codeSystem="2.16.840.1.113883.6.1" displayName="Allergies"/>
<title>Allergies</title><text>Penicillin: hives</text>
</section></component>"""
_CCDA_SECTIONS = "".join(
    f"""<component><section nullFlavor="NI">
<templateId root="{root}"/><templateId root="{root}" extension="{version}"/>
<code code="{loinc}" codeSystem="2.16.840.1.113883.6.1"/>
<title>{title}</title><text><paragraph>No information.</paragraph></text>
</section></component>"""
    for root, version, loinc, title in (
        ("2.16.840.1.113883.10.20.22.2.6.1", "2015-08-01", "48765-2", "Allergies"),
        ("2.16.840.1.113883.10.20.22.2.1.1", "2014-06-09", "10160-0", "Medications"),
        ("2.16.840.1.113883.10.20.22.2.5.1", "2015-08-01", "11450-4", "Problems"),
        ("2.16.840.1.113883.10.20.22.2.3.1", "2015-08-01", "30954-2", "Results"),
        ("2.16.840.1.113883.10.20.22.2.4.1", "2015-08-01", "8716-3", "Vital Signs"),
        ("2.16.840.1.113883.10.20.22.2.17", "2015-08-01", "29762-2", "Social History"),
    )
)


# -- Faults ----------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of answering, for the next ``times`` requests under ``path``."""

    path: str
    kind: str  # "status", "malformed_json", "truncate", "skip_page"
    times: int = 1
    status: int = 500
    retry_after: str | None = None


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]


# -- Server ----------------------------------------------------------------------------------


class FakeDrChrono(LoopbackServer):
    """The server. Start with ``with FakeDrChrono() as server`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        practice: FakePractice | None = None,
        *,
        envelope: str = "results",
        expires_in: int = 172_800,
        supports_range: bool = True,
        counts: bool = False,
        bulk_polls_in_progress: int = 0,
    ) -> None:
        self.practice = practice or build_practice()
        #: polls of a bulk uuid that answer "In progress" before it is complete
        self.bulk_polls_in_progress = bulk_polls_in_progress
        self._bulk_jobs: dict[str, dict[str, Any]] = {}
        self._access_expires_at = float("inf")
        self.envelope = envelope  # "results" (as the example app reads) or "data" (the OAS)
        self.counts = counts  # pages say how long the whole list is
        self.expires_in = expires_in
        self.supports_range = supports_range
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._token_serial = 0
        self.access_token = ""
        self.refresh_token = ""
        self._issue_tokens()
        self._listen(_Handler)

    @property
    def base_url(self) -> str:
        return self.origin

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/o/token/"

    # -- Switches for tests ------------------------------------------------------------------

    def fail(self, path: str, status: int = 500, *, times: int = 1, retry_after: str | None = None):
        self.faults.append(Fault(path, "status", times, status, retry_after))

    def refuse(self, path: str, status: int = 403) -> None:
        """Refuse an endpoint for good, as DrChrono does for a scope the application lacks."""
        self.fail(path, status, times=10**9)

    def malformed_json(self, path: str, *, times: int = 1) -> None:
        self.faults.append(Fault(path, "malformed_json", times))

    def truncate(self, path: str, *, times: int = 1) -> None:
        self.faults.append(Fault(path, "truncate", times))

    def skip_page(self, path: str) -> None:
        """The next page of this list links past the page after it (cursor drift)."""
        self.faults.append(Fault(path, "skip_page"))

    def expire_access_token(self) -> None:
        """The current access token stops working (DrChrono revoked or expired it early)."""
        with self._lock:
            self.access_token = "revoked"

    def client_settings(self, **options: Any) -> ClientSettings:
        """How a client reaches this server, as this server's registered application."""
        return ClientSettings(
            base_url=self.base_url,
            token_url=self.token_url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            **options,
        )

    def tokens(self, *, expires_at: datetime = NEVER_EXPIRES) -> OAuthTokens:
        """The pair issued last, as a client would hold them."""
        return OAuthTokens(self.access_token, self.refresh_token, expires_at)

    def token_renewals(self) -> int:
        return len([r for r in self.requests if r.path == "/o/token/"])

    def api_requests(self, path: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/api/") and (path is None or r.path == path)
        ]

    def file_requests(self, path: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/media/") and (path is None or r.path == path)
        ]

    def url(self, path: str, *, expires: float | None = None) -> str:
        """An absolute URL; a file's is signed, good until ``expires`` (by default an hour)."""
        if not path.startswith("/media/"):
            return f"{self.base_url}{path}"
        expires = int(time.time() + SIGNED_URL_SECONDS if expires is None else expires)
        query = urlencode({"Expires": expires, "Signature": _signature(path, expires)})
        return f"{self.base_url}{path}?{query}"

    # -- Internals ---------------------------------------------------------------------------

    def _issue_tokens(self) -> None:
        self._access_expires_at = time.time() + self.expires_in
        self._token_serial += 1
        self.access_token = f"access-{self._token_serial}"
        self.refresh_token = f"refresh-{self._token_serial}"

    def _rotate_tokens(self, refresh_token: str | None) -> tuple[str, str] | None:
        """New tokens for the current refresh token, which is then used up (as DrChrono's
        is); None for any other. Checked and rotated at once: of two renewals racing with
        the same refresh token, exactly one wins."""
        with self._lock:
            if refresh_token != self.refresh_token:
                return None
            self._issue_tokens()
            return self.access_token, self.refresh_token

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and path.startswith(fault.path):
                    fault.times -= 1
                    return fault
        return None


class _Handler(LoopbackHandler):
    fake: FakeDrChrono

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.fake.requests.append(LoggedRequest("POST", parts.path, query))
        fault = self.fake._take_fault(parts.path)
        if fault is not None and fault.kind == "status":
            return self._json(fault.status, {"detail": "failure"}, retry_after=fault.retry_after)
        if parts.path.startswith("/api/"):
            if not self._authorized():
                return self._json(401, {"detail": "Authentication credentials were not provided."})
            name = parts.path.strip("/").split("/")[-1]
            if name not in BULK_ENDPOINTS:
                return self._json(404, {"detail": "Not found."})
            return self._bulk_create(name, query)
        if parts.path != "/o/token/":
            return self._json(404, {"detail": "Not found."})
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
        ):
            return self._json(400, {"error": "invalid_client"})
        issued = self.fake._rotate_tokens(form.get("refresh_token"))
        if issued is None:
            return self._json(400, {"error": "invalid_grant"})
        access_token, refresh_token = issued
        self._json(
            200,
            {
                "access_token": access_token,
                "refresh_token": refresh_token,
                "expires_in": self.fake.expires_in,
                "token_type": "Bearer",
                "scope": "patients:read",
            },
        )

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.fake.requests.append(LoggedRequest("GET", parts.path, query))
        fault = self.fake._take_fault(parts.path)
        if fault is not None and fault.kind == "status":
            return self._json(fault.status, {"detail": "failure"}, retry_after=fault.retry_after)
        if parts.path.startswith("/media/"):
            if not _signed(parts.path, query):
                return self._raw(403, b"<Error><Code>AccessDenied</Code></Error>", "text/xml")
            return self._file(parts.path, truncate=fault is not None and fault.kind == "truncate")
        if not parts.path.startswith("/api/"):
            return self._json(404, {"detail": "Not found."})
        if not self._authorized():
            return self._json(401, {"detail": "Authentication credentials were not provided."})
        if fault is not None and fault.kind == "malformed_json":
            return self._raw(200, b'{"results": [{"id": 1,', "application/json")
        segments = parts.path.strip("/").split("/")
        if len(segments) == 4 and segments[1] == "patients" and segments[3] == "ccda":
            return self._ccda(segments[2])
        if len(segments) == 2 and segments[1] in BULK_ENDPOINTS:
            return self._bulk_poll(query.get("uuid", ""))
        if len(segments) == 2 and segments[1] in LIST_ENDPOINTS:
            skip = fault is not None and fault.kind == "skip_page"
            return self._list(segments[1], query, skip_next_page=skip)
        return self._json(404, {"detail": "Not found."})

    def _authorized(self) -> bool:
        return (
            self.headers.get("Authorization") == f"Bearer {self.fake.access_token}"
            and time.time() < self.fake._access_expires_at
        )

    # -- Bulk lists --------------------------------------------------------------------------

    def _bulk_create(self, name: str, query: dict[str, str]) -> None:
        endpoint = BULK_ENDPOINTS[name]
        if endpoint == "appointments":
            problem = _appointment_query_problem(query)
            if problem:
                return self._json(400, {"detail": problem})
        page_size = min(int(query.get("page_size") or MAX_BULK_PAGE_SIZE), MAX_BULK_PAGE_SIZE)
        page = int(query.get("page") or 1)
        verbose = query.get("verbose") in ("true", "1")
        items = [self._absolute(item) for item in self._filtered(endpoint, query, verbose)]
        pages = max(1, -(-len(items) // page_size))
        job_id = str(uuid.uuid4())
        self.fake._bulk_jobs[job_id] = {
            "polls_left": self.fake.bulk_polls_in_progress,
            "body": {
                "status": "Complete",
                "uuid": job_id,
                "pagination": {
                    "count": len(items),
                    "pages": pages,
                    "page_size": page_size,
                    "page": page,
                },
                "results": items[(page - 1) * page_size : page * page_size],
            },
        }
        self._json(201, {"status": "In progress", "uuid": job_id, "description": name})

    def _bulk_poll(self, job_id: str) -> None:
        job = self.fake._bulk_jobs.get(job_id)
        if job is None:
            return self._json(400, {"detail": "Invalid uuid specified"})
        if job["polls_left"] > 0:
            job["polls_left"] -= 1
            return self._json(200, {"status": "In progress", "uuid": job_id})
        self._json(200, job["body"])

    # -- Lists -------------------------------------------------------------------------------

    def _list(self, endpoint: str, query: dict[str, str], *, skip_next_page: bool) -> None:
        verbose = query.get("verbose") in ("true", "1")
        if endpoint == "appointments":
            problem = _appointment_query_problem(query)
            if problem:
                return self._json(400, {"detail": problem})
        items = [self._absolute(item) for item in self._filtered(endpoint, query, verbose)]
        cap = MAX_VERBOSE_PAGE_SIZE if verbose else MAX_PAGE_SIZE
        page_size = min(int(query.get("page_size") or DEFAULT_PAGE_SIZE), cap)
        offset = _decode_cursor(query.get("cursor"))
        page = items[offset : offset + page_size]
        next_offset = offset + page_size * (2 if skip_next_page else 1)
        next_url = None
        if next_offset < len(items):
            next_query = {**query, "cursor": _encode_cursor(next_offset)}
            next_url = f"{self.fake.base_url}/api/{endpoint}?{urlencode(next_query)}"
        body = {"previous": None, self.fake.envelope: page, "next": next_url}
        if self.fake.counts:
            body["count"] = len(items)
        self._json(200, body)

    def _filtered(self, endpoint: str, query: dict[str, str], verbose: bool) -> Iterator[dict]:
        show_inactive = query.get("show_inactive") in ("true", "1")
        for item in self.fake.practice.objects(endpoint):
            item = copy.deepcopy(item)
            if "patient" in query and str(item.get("patient")) != query["patient"]:
                continue
            if endpoint == "patients":
                if item.get("patient_status") != "A" and not show_inactive:
                    continue
                if not show_inactive:
                    item.pop("date_of_death", None)
            if endpoint == "messages" and "type" in query and item.get("type") != query["type"]:
                continue
            if endpoint == "appointments":
                if not _dated_in(item, query):
                    continue
                if item.get("deleted_flag") and query.get("show_archived") not in ("true", "1"):
                    continue
                if not verbose:
                    for name in VERBOSE_APPOINTMENT_FIELDS:
                        item.pop(name, None)
            yield item

    def _absolute(self, value: Any) -> Any:
        """File paths become absolute URLs, as DrChrono returns them."""
        if isinstance(value, dict):
            return {key: self._absolute(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._absolute(item) for item in value]
        if isinstance(value, str) and value.startswith("/media/"):
            return self.fake.url(value)  # signed, as file storage hands it out
        return value

    # -- Documents and files -----------------------------------------------------------------

    def _ccda(self, patient_id: str) -> None:
        patient = next(
            (p for p in self.fake.practice.objects("patients") if str(p["id"]) == patient_id), None
        )
        if patient is None:
            return self._json(404, {"detail": "Not found."})
        practice = self.fake.practice
        about = practice.ccda_of_another_patient.get(patient_id)
        if about is not None:
            patient = next(p for p in practice.objects("patients") if str(p["id"]) == about)
        document = ccda_document(
            patient,
            valid=patient_id not in practice.invalid_ccda_patients,
            passes_schematron=patient_id not in practice.schematron_failing_ccda_patients,
        )
        self._raw(200, document, "application/xml")

    def _file(self, path: str, *, truncate: bool) -> None:
        stored = self.fake.practice.files.get(path)
        if stored is None:
            return self._json(404, {"detail": "Not found."})
        content, status, start = stored.content, 200, 0
        requested = self.headers.get("Range", "")
        if self.fake.supports_range and requested.startswith("bytes="):
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            status = 206
        body = content[start:]
        self.send_response(status)
        self.send_header("Content-Type", stored.content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        self.end_headers()
        if truncate:
            # Half the promised bytes, then the connection drops.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    # -- Responses ---------------------------------------------------------------------------

    def _json(self, status: int, body: Any, *, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._raw(status, json.dumps(body).encode(), "application/json", headers)


def _signature(path: str, expires: int) -> str:
    return hmac.new(_SIGNING_KEY, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


def _signed(path: str, query: dict[str, str]) -> bool:
    """Whether a file request carries an unexpired, untampered signature."""
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        return False
    valid = hmac.compare_digest(query.get("Signature", ""), _signature(path, expires))
    return valid and time.time() < expires


def _appointment_query_problem(query: dict[str, str]) -> str | None:
    if not any(query.get(name) for name in ("since", "occurred_since", "date", "date_range")):
        return "One of since, date or date_range is required"
    if query.get("date_range"):
        try:
            start, end = (date.fromisoformat(part) for part in query["date_range"].split("/"))
        except ValueError:
            return "date_range must be YYYY-MM-DD/YYYY-MM-DD"
        if end < start or (end - start).days + 1 > MAX_DATE_RANGE_DAYS:
            return f"date_range window must be at most {MAX_DATE_RANGE_DAYS} days"
    return None


def _dated_in(appointment: dict[str, Any], query: dict[str, str]) -> bool:
    """Whether the appointment passes the query's date filter (scheduled, or changed for since)."""
    scheduled = date.fromisoformat(appointment["scheduled_time"][:10])
    if query.get("date_range"):
        start, end = (date.fromisoformat(part) for part in query["date_range"].split("/"))
        return start <= scheduled <= end
    if query.get("date"):
        return scheduled == date.fromisoformat(query["date"])
    if query.get("occurred_since"):
        return scheduled >= date.fromisoformat(query["occurred_since"][:10])
    changed = date.fromisoformat(appointment["updated_at"][:10])
    return changed >= date.fromisoformat(query["since"][:10])


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o={offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o="))


# -- Test helpers: a clock that never sleeps, and tokens shared by clients -------------------


class FakeClock:
    """Time that moves only when someone sleeps; every wait is recorded."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MemoryTokenStore:
    """A grant's tokens shared by clients in one process, as the portal's store shares them
    across workers: one renews at a time, the others take what it got."""

    def __init__(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens
        #: every pair DrChrono issued through this store, in order
        self.renewed: list[OAuthTokens] = []
        self._lock = threading.Lock()

    def renew(
        self, held: OAuthTokens, request_new: Callable[[OAuthTokens], OAuthTokens]
    ) -> OAuthTokens:
        with self._lock:
            if not renewed_elsewhere(self.tokens, held):
                self.tokens = request_new(self.tokens)
                self.renewed.append(self.tokens)
            return self.tokens
