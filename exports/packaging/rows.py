"""One row of a workbook sheet per record (the sheets and their columns: ``deliverable_schema``).

Every row starts with the patient (id, chart id, last name, first name). Sheets that describe
files give the file's date, category (or tags) and path from the archive root, and an
"Export Status" (``exported``, or ``failed: <reason>`` with an empty path) so a record whose
file could not be shipped is still listed with everything else the source gave.

Rows travel through per-batch spool files as JSON lists: ``encode_row`` turns typed values into
JSON scalars and ``decode_row`` turns them back using the column kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath

# The sheets are defined in the deliverable's schema; they are named here too, beside the
# functions that make their rows, for the batches that write them.
from exports.deliverable_schema import (
    ALLERGIES as ALLERGIES,
)
from exports.deliverable_schema import (
    APPOINTMENTS as APPOINTMENTS,
)
from exports.deliverable_schema import (
    CCDA_FILES as CCDA_FILES,
)
from exports.deliverable_schema import (
    FAXES_AND_REFERRALS as FAXES_AND_REFERRALS,
)
from exports.deliverable_schema import (
    INSURANCE_HISTORY as INSURANCE_HISTORY,
)
from exports.deliverable_schema import (
    INTEGRATION_LAB_RESULTS as INTEGRATION_LAB_RESULTS,
)
from exports.deliverable_schema import (
    LAB_RESULTS as LAB_RESULTS,
)
from exports.deliverable_schema import (
    MEDICATIONS as MEDICATIONS,
)
from exports.deliverable_schema import (
    MESSAGE_CENTER as MESSAGE_CENTER,
)
from exports.deliverable_schema import (
    PATIENT_PAYMENTS as PATIENT_PAYMENTS,
)
from exports.deliverable_schema import (
    PATIENTS as PATIENTS,
)
from exports.deliverable_schema import (
    PROBLEMS as PROBLEMS,
)
from exports.deliverable_schema import (
    SIGNED_CLINICAL_NOTES as SIGNED_CLINICAL_NOTES,
)
from exports.deliverable_schema import (
    UPLOADED_DOCUMENTS as UPLOADED_DOCUMENTS,
)
from exports.deliverable_schema import (
    Kind,
    Sheet,
)
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
    return [value if type(value) in _AS_THEY_ARE else _encode(value) for value in values]


def decode_row(sheet: Sheet, values: Sequence[JsonValue]) -> list[Value]:
    """The inverse of ``encode_row``."""
    return RowDecoder(sheet).decode(values)


class RowDecoder:
    """``decode_row`` for the rows of one sheet, its typed columns found once."""

    def __init__(self, sheet: Sheet) -> None:
        self._sheet = sheet
        # Text and paths travel as they are: only the other columns need decoding.
        self._typed_columns = [
            (index, column.kind)
            for index, column in enumerate(sheet.columns)
            if column.kind not in (Kind.TEXT, Kind.PATH)
        ]

    def decode(self, values: Sequence[JsonValue]) -> list[Value]:
        if len(values) != len(self._sheet.columns):
            raise ValueError(
                f"a {self._sheet.key} row has {len(values)} values, not {len(self._sheet.columns)}"
            )
        decoded: list[Value] = list(values)
        for index, kind in self._typed_columns:
            decoded[index] = _decode(kind, values[index])
        return decoded


#: the types most values have, which JSON takes as they are (no call to ``_encode`` each)
_AS_THEY_ARE = frozenset({str, int, type(None)})


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
