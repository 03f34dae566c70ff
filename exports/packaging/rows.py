"""The workbook's sheets, their columns, and one row per record.

Every row starts with the patient (id, chart id, last name, first name). Sheets that describe
files give the file's date, category (or tags) and path from the archive root, and an
"Export Status" (``exported``, or ``failed: <reason>`` with an empty path) so a record whose
file could not be shipped is still listed with everything else the source gave.

Rows travel through per-batch spool files as JSON lists: ``encode_row`` turns typed values into
JSON scalars and ``decode_row`` turns them back using the column kinds.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath

from exports.sources.records import (
    Allergy,
    Appointment,
    ClinicalNote,
    Demographics,
    Document,
    FaxOrReferral,
    Immunization,
    Insurance,
    LabResult,
    Medication,
    Message,
    Payment,
    Problem,
    Vitals,
)

Value = str | int | Decimal | date | datetime | None
JsonValue = str | int | None

EXPORTED = "exported"
CCDA_DOCUMENT_TYPE = "C-CDA R2.1 CCD"
SOURCE_CCDA_DOCUMENT_TYPE = "C-CDA from the source EHR"
AS_RECEIVED_CCDA_DOCUMENT_TYPE = "C-CDA as received from the EHR (not valid)"
INCOMPLETE_CCDA_DOCUMENT_TYPE = "C-CDA as received from the EHR (lacks vaccine records)"


class Kind(enum.Enum):
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    MONEY = "money"
    PATH = "path"  # text: a file's path from the archive root (the workbook links it)


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT
    width: int = 16


@dataclass(frozen=True, slots=True)
class Sheet:
    key: str  # the spool file's name
    name: str  # the sheet's title; continuation sheets add " (2)", " (3)", ...
    columns: tuple[Column, ...]


def _text(header: str, width: int = 16) -> Column:
    return Column(header, Kind.TEXT, width)


def _date(header: str) -> Column:
    return Column(header, Kind.DATE, 12)


def _datetime(header: str) -> Column:
    return Column(header, Kind.DATETIME, 18)


def _path(header: str) -> Column:
    return Column(header, Kind.PATH, 60)


def _number(header: str, width: int = 10) -> Column:
    return Column(header, Kind.NUMBER, width)


_PATIENT = (_text("Patient ID", 12), _text("Chart ID", 12), _text("Last Name"), _text("First Name"))
_PATH = _path("File Path")
_STATUS = _text("Export Status", 24)

PATIENTS = Sheet(
    "patients",
    "Patients",
    (
        *_PATIENT,
        _text("Middle Name"),
        _text("Nickname"),
        _date("Date of Birth"),
        _text("Date of Birth as Recorded", 14),
        _text("Status", 10),
        _date("Date of Death"),
        _text("Gender", 8),
        _text("Email", 24),
        _text("Home Phone", 14),
        _text("Cell Phone", 14),
        _text("Address Line 1", 24),
        _text("Address Line 2", 16),
        _text("City"),
        _text("State", 6),
        _text("ZIP Code", 10),
        _text("SSN", 12),
        _text("Race"),
        _text("Ethnicity"),
        _text("Preferred Language"),
        _text("Primary Provider", 20),
        _datetime("Created"),
        _STATUS,
    ),
)
INSURANCE_HISTORY = Sheet(
    "insurance_history",
    "Insurance History",
    (
        *_PATIENT,
        _text("Insurance ID", 12),
        _text("Priority", 10),
        _text("Current", 8),
        _text("Company", 24),
        _text("Payer ID", 10),
        _text("Plan Name", 20),
        _text("Plan Type", 10),
        _text("Member ID"),
        _text("Group Name"),
        _text("Group Number"),
        _text("Subscriber", 20),
        _text("Relationship to Subscriber"),
        _date("Start Date"),
        _date("End Date"),
        _path("Card Front Path"),
        _path("Card Back Path"),
    ),
)
PATIENT_PAYMENTS = Sheet(
    "patient_payments",
    "Patient Payments",
    (
        *_PATIENT,
        _text("Payment ID", 12),
        _date("Received Date"),
        Column("Amount", Kind.MONEY, 12),
        _text("Method", 8),
        _text("Transaction Type"),
        _date("Posted Date"),
        _text("Trace Number"),
        _text("Appointment ID", 14),
        _text("Notes", 30),
    ),
)
MEDICATIONS = Sheet(
    "medications",
    "Medications",
    (
        *_PATIENT,
        _text("Medication ID", 12),
        _text("Name", 30),
        _text("RxNorm", 10),
        _text("NDC", 14),
        _text("Dosage Quantity", 10),
        _text("Dosage Units", 10),
        _text("Frequency"),
        _text("Route", 10),
        _text("Status", 10),
        _date("Date Prescribed"),
        _date("Date Started"),
        _date("Date Stopped"),
        _text("Prescriber", 20),
        _text("Indication", 20),
        _text("Notes", 30),
    ),
)
ALLERGIES = Sheet(
    "allergies",
    "Allergies",
    (
        *_PATIENT,
        _text("Allergy ID", 12),
        _text("Description", 24),
        _text("Reaction", 20),
        _text("Severity", 10),
        _text("Status", 10),
        _text("SNOMED Code", 12),
        _text("RxNorm", 10),
        _text("SNOMED Reaction Code", 12),
        _date("Onset Date"),
        _text("Notes", 30),
    ),
)
PROBLEMS = Sheet(
    "problems",
    "Problems",
    (
        *_PATIENT,
        _text("Problem ID", 12),
        _text("Name", 30),
        _text("ICD-10 Code", 10),
        _text("SNOMED Code", 12),
        _text("Status", 10),
        _date("Onset Date"),
        _date("Diagnosis Date"),
        _date("Resolved Date"),
        _text("Notes", 30),
    ),
)
APPOINTMENTS = Sheet(
    "appointments",
    "Appointments",
    (
        *_PATIENT,
        _text("Appointment ID", 14),
        _datetime("Time"),
        _number("Duration (min)"),
        _text("Reason", 24),
        _text("Provider", 20),
        _text("Office"),
        _text("Status", 12),
        _text("ICD-10 Codes", 16),
        _number("Height (in)"),
        _number("Weight (lb)"),
        _number("BMI"),
        _number("BP Systolic (mmHg)"),
        _number("BP Diastolic (mmHg)"),
        _number("Pulse (bpm)"),
        _number("Temperature (F)"),
        _number("Respiratory Rate"),
        _number("Oxygen Saturation (%)"),
        _number("Pain"),
        _text("Smoking Status"),
        _text("Note", 40),
    ),
)
SIGNED_CLINICAL_NOTES = Sheet(
    "signed_clinical_notes",
    "Signed Clinical Notes",
    (
        *_PATIENT,
        _text("Note ID", 12),
        _datetime("Date"),
        _text("Category", 20),
        _text("Title", 24),
        _text("Provider", 20),
        _text("Appointment ID", 14),
        _PATH,
        _STATUS,
    ),
)
UPLOADED_DOCUMENTS = Sheet(
    "uploaded_documents",
    "Uploaded Documents",
    (
        *_PATIENT,
        _text("Document ID", 12),
        _date("Date"),
        _text("Tags", 20),
        _text("Description", 30),
        _text("Archived", 8),
        _PATH,
        _STATUS,
    ),
)
_LAB_COLUMNS = (
    *_PATIENT,
    _text("Lab Result ID", 12),
    _date("Date Performed"),
    _text("Category", 12),
    _text("Vendor", 18),
    _text("Order ID", 12),
    _text("Test Name", 24),
    _text("LOINC Code", 10),
    _text("Value", 12),
    _text("Units", 8),
    _text("Normal Range", 12),
    _text("Abnormal Flag", 8),
    _text("Result Status", 8),
    _text("Ordering Provider", 20),
    _text("Comments", 30),
    _path("Report File Path"),
    _STATUS,
)
LAB_RESULTS = Sheet("lab_results", "Lab Results", _LAB_COLUMNS)
INTEGRATION_LAB_RESULTS = Sheet("integration_lab_results", "Integration Lab Results", _LAB_COLUMNS)
MESSAGE_CENTER = Sheet(
    "message_center",
    "Message Center",
    (
        *_PATIENT,
        _text("Message ID", 12),
        _text("Attachment ID", 12),
        _datetime("Received"),
        _text("Category", 20),
        _text("Subject", 30),
        _text("Sender", 20),
        _text("Recipient", 20),
        _text("Attachment Name", 24),
        _PATH,
        _STATUS,
    ),
)
FAXES_AND_REFERRALS = Sheet(
    "faxes_and_referrals",
    "Faxes and Referrals",
    (
        *_PATIENT,
        _text("Record ID", 12),
        _datetime("Received"),
        _text("Category", 12),
        _text("Kind", 18),
        _text("Title", 24),
        _text("Counterpart", 20),
        _PATH,
        _STATUS,
    ),
)
CCDA_FILES = Sheet(
    "ccda_files",
    "CCDA Files",
    (*_PATIENT, _date("Date"), _text("Category", 16), _PATH, _STATUS),
)

#: the workbook's sheets, in the order the deliverable lists them
SHEETS: tuple[Sheet, ...] = (
    PATIENTS,
    INSURANCE_HISTORY,
    PATIENT_PAYMENTS,
    MEDICATIONS,
    ALLERGIES,
    PROBLEMS,
    APPOINTMENTS,
    SIGNED_CLINICAL_NOTES,
    UPLOADED_DOCUMENTS,
    LAB_RESULTS,
    INTEGRATION_LAB_RESULTS,
    MESSAGE_CENTER,
    FAXES_AND_REFERRALS,
    CCDA_FILES,
)


def failed_status(reason: str) -> str:
    return f"failed: {reason}"


def path_text(path: PurePosixPath | None) -> str:
    return "" if path is None else str(path)


def patient_columns(patient: Demographics) -> tuple[Value, ...]:
    return (patient.id, patient.chart_id, patient.last_name, patient.first_name)


def patient_row(patient: Demographics) -> tuple[Value, ...]:
    address = patient.address
    return (
        *patient_columns(patient),
        patient.middle_name,
        patient.nick_name,
        patient.date_of_birth,
        patient.date_of_birth_text,
        patient.status.value,
        patient.date_of_death,
        patient.gender,
        patient.email,
        patient.home_phone,
        patient.cell_phone,
        address.line1,
        address.line2,
        address.city,
        address.state,
        address.zip_code,
        patient.social_security_number,
        patient.race,
        patient.ethnicity,
        patient.preferred_language,
        patient.primary_provider,
        patient.created_at,
        EXPORTED,
    )


def unreadable_patient_row(patient_id: str, reason: str) -> tuple[Value, ...]:
    """A patient the source could not read: listed by id, with why."""
    blanks = (None,) * (len(PATIENTS.columns) - 2)
    return (patient_id, *blanks, failed_status(reason))


def insurance_row(
    patient: Demographics,
    insurance: Insurance,
    card_front: PurePosixPath | None,
    card_back: PurePosixPath | None,
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        insurance.id,
        insurance.priority.value,
        "yes" if insurance.is_current else "no",
        insurance.company,
        insurance.payer_id,
        insurance.plan_name,
        insurance.plan_type,
        insurance.member_id,
        insurance.group_name,
        insurance.group_number,
        insurance.subscriber_name,
        insurance.relationship_to_subscriber,
        insurance.start_date,
        insurance.end_date,
        path_text(card_front),
        path_text(card_back),
    )


def payment_row(patient: Demographics, payment: Payment) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        payment.id,
        payment.received_date,
        payment.amount,
        payment.method,
        payment.transaction_type,
        payment.posted_date,
        payment.trace_number,
        payment.appointment_id,
        payment.notes,
    )


def medication_row(patient: Demographics, medication: Medication) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        medication.id,
        medication.name,
        medication.rxnorm,
        medication.ndc,
        medication.dosage_quantity,
        medication.dosage_units,
        medication.frequency,
        medication.route,
        medication.status,
        medication.date_prescribed,
        medication.date_started,
        medication.date_stopped,
        medication.prescriber,
        medication.indication,
        medication.notes,
    )


def immunization_row(patient: Demographics, immunization: Immunization) -> tuple[Value, ...]:
    """A vaccine record in the Medications sheet: the workbook's sheets are fixed (DESIGN.md)
    and have no immunization sheet; a vaccine is a medication administered, named as such
    (as the FHIR Bulk source names its Immunizations)."""
    cvx = immunization.cvx_code.strip()
    return (
        *patient_columns(patient),
        immunization.id,
        f"{immunization.vaccine} (immunization{f', CVX {cvx}' if cvx else ''})",
        "",
        "",
        "",
        "",
        "",
        "",
        immunization.status,
        None,
        immunization.administered_on,
        immunization.administered_on,
        "",
        "",
        "; ".join(
            part
            for part in (
                f"lot {immunization.lot_number.strip()}" if immunization.lot_number.strip() else "",
                immunization.manufacturer.strip(),
                immunization.notes.strip(),
            )
            if part
        ),
    )


def allergy_row(patient: Demographics, allergy: Allergy) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        allergy.id,
        allergy.description,
        allergy.reaction,
        allergy.severity,
        allergy.status,
        allergy.snomed_code,
        allergy.rxnorm,
        allergy.snomed_reaction,
        allergy.onset_date,
        allergy.notes,
    )


def problem_row(patient: Demographics, problem: Problem) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        problem.id,
        problem.name,
        problem.icd10_code,
        problem.snomed_code,
        problem.status,
        problem.date_onset,
        problem.date_diagnosis,
        problem.date_resolved,
        problem.notes,
    )


def appointment_row(patient: Demographics, appointment: Appointment) -> tuple[Value, ...]:
    vitals = appointment.vitals or Vitals()
    return (
        *patient_columns(patient),
        appointment.id,
        appointment.scheduled_time,
        appointment.duration_minutes,
        appointment.reason,
        appointment.provider,
        appointment.office,
        appointment.status,
        "; ".join(appointment.icd10_codes),
        vitals.height_in,
        vitals.weight_lb,
        vitals.bmi,
        vitals.systolic_mmhg,
        vitals.diastolic_mmhg,
        vitals.pulse_bpm,
        vitals.temperature_f,
        vitals.respiratory_rate,
        vitals.oxygen_saturation,
        vitals.pain,
        vitals.smoking_status,
        appointment.notes,
    )


def clinical_note_row(
    patient: Demographics, note: ClinicalNote, path: PurePosixPath | None, status: str
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        note.id,
        note.date,
        SIGNED_CLINICAL_NOTES.name,
        note.title,
        note.provider,
        note.appointment_id,
        path_text(path),
        status,
    )


def document_row(
    patient: Demographics, document: Document, path: PurePosixPath | None, status: str
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        document.id,
        document.date,
        "; ".join(document.tags),
        document.description,
        "yes" if document.archived else "no",
        path_text(path),
        status,
    )


def lab_result_row(
    patient: Demographics, lab: LabResult, report: PurePosixPath | None, status: str
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        lab.id,
        lab.date_performed,
        lab.source.value,
        lab.vendor,
        lab.order_id,
        lab.test_name,
        lab.loinc_code,
        lab.value,
        lab.units,
        lab.normal_range,
        lab.abnormal_flag,
        lab.status,
        lab.ordering_provider,
        lab.comments,
        path_text(report),
        status,
    )


def message_row(patient: Demographics, message: Message, path: PurePosixPath) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        message.id,
        "",
        message.received_at,
        message.category,
        message.subject,
        message.sender,
        message.recipient,
        "",
        path_text(path),
        EXPORTED,
    )


def attachment_row(
    patient: Demographics,
    message: Message,
    attachment_id: str,
    attachment_name: str,
    path: PurePosixPath | None,
    status: str,
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        message.id,
        attachment_id,
        message.received_at,
        message.category,
        message.subject,
        message.sender,
        message.recipient,
        attachment_name,
        path_text(path),
        status,
    )


def fax_or_referral_row(
    patient: Demographics,
    record: FaxOrReferral,
    category: str,
    path: PurePosixPath | None,
    status: str,
) -> tuple[Value, ...]:
    return (
        *patient_columns(patient),
        record.id,
        record.received_at,
        category,
        record.kind.value.replace("_", " "),
        record.title,
        record.counterpart,
        path_text(path),
        status,
    )


def ccda_row(
    patient: Demographics,
    export_date: date,
    path: PurePosixPath | None,
    status: str,
    document_type: str = CCDA_DOCUMENT_TYPE,
) -> tuple[Value, ...]:
    return (*patient_columns(patient), export_date, document_type, path_text(path), status)


def encode_row(sheet: Sheet, values: Sequence[Value]) -> list[JsonValue]:
    """Typed values as JSON scalars (dates in ISO form, amounts as decimal strings)."""
    if len(values) != len(sheet.columns):
        raise ValueError(f"a {sheet.key} row has {len(values)} values, not {len(sheet.columns)}")
    return [_encode(value) for value in values]


def decode_row(sheet: Sheet, values: Sequence[JsonValue]) -> list[Value]:
    """The inverse of ``encode_row``."""
    return [
        _decode(column.kind, value) for column, value in zip(sheet.columns, values, strict=True)
    ]


def _encode(value: Value) -> JsonValue:
    if isinstance(value, datetime):
        # Excel has no time zones: keep the wall time the record was given in.
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(kind: Kind, value: JsonValue) -> Value:
    if value is None or (value == "" and kind not in (Kind.TEXT, Kind.PATH)):
        return None
    if kind is Kind.DATE:
        return date.fromisoformat(str(value))
    if kind is Kind.DATETIME:
        return datetime.fromisoformat(str(value))
    if kind in (Kind.NUMBER, Kind.MONEY) and isinstance(value, str):
        return Decimal(value)
    return value
