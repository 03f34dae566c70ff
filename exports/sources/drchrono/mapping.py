"""DrChrono API JSON -> the record model, defensively.

Every function takes one object as the API gave it and returns a record, or raises
``MappingError`` naming the field that is wrong (never its value: values are PHI). Missing or
empty optional fields map to empty values; a field that is present but malformed (a date that
is not a date, an amount that is not a number) fails the record, so it is reported rather than
exported with a silently blanked value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..lab_ranges import reference_range
from ..records import (
    Address,
    Allergy,
    Appointment,
    Attachment,
    Blob,
    ClinicalNote,
    Demographics,
    Document,
    FaxOrReferral,
    FaxOrReferralKind,
    Immunization,
    Insurance,
    InsurancePriority,
    LabResult,
    LabSource,
    Medication,
    Message,
    PatientStatus,
    Payment,
    PhotoRecord,
    Problem,
    Vitals,
)

Raw = Mapping[str, Any]
#: Makes a Blob for a file URL: (url, label naming the record, extension if the URL has none)
FileMaker = Callable[[str, str, str], Blob]

ONPATIENT_MESSAGES = "Onpatient Messages"

PATIENT_STATUSES = {
    "A": PatientStatus.ACTIVE,
    "I": PatientStatus.INACTIVE,
    "D": PatientStatus.DECEASED,
}
INSURANCE_FIELDS = {
    InsurancePriority.PRIMARY: "primary_insurance",
    InsurancePriority.SECONDARY: "secondary_insurance",
    InsurancePriority.TERTIARY: "tertiary_insurance",
}
CARD_IMAGE_FIELDS = ("photo_front", "photo_back")
_POLICY_FIELDS = (
    "insurance_company",
    "insurance_id_number",
    "insurance_payer_id",
    *CARD_IMAGE_FIELDS,
)
FAX_AND_REFERRAL_TYPES = {
    "IF": FaxOrReferralKind.INCOMING_FAX,
    "OF": FaxOrReferralKind.OUTGOING_FAX,
    "IR": FaxOrReferralKind.INBOUND_REFERRAL,
    "OR": FaxOrReferralKind.OUTBOUND_REFERRAL,
}
#: Every other message-center type is a Message Center message, filed in the folder named for
#: its type (the names are the OpenAPI document's descriptions of the ``type`` codes).
MESSAGE_CENTER_CATEGORIES = {
    "GP": "Generated PDFs",
    "GC": "Generated CSVs",
    "GZ": "Generated ZIPs",
    "IL": "Incoming Labs",
    "IE": "Incoming eRx",
    "OA": "Online Appointments",
    "PO": "Patient Onboarding",
    "PI": "Patient Incoming Messages",
    "PM": "Patient Outgoing Messages",
    "OO": "Demo Meeting Messages",
    "OD": "Outbound Direct Messages",
    "ID": "Inbound Direct Messages",
}
#: the folder of a type DrChrono neither documents nor describes on the item itself
OTHER_MESSAGES = "Other Messages"
_BLANK_CODES = {"blank"}  # DrChrono's "not given" for race, ethnicity, language, smoking


class MappingError(ValueError):
    """A DrChrono object that cannot become a record. The message names fields, not values."""


# -- Patients ---------------------------------------------------------------------------------


def demographics(raw: Raw, providers: Mapping[str, str]) -> Demographics:
    status_code = _text(raw, "patient_status")
    if status_code not in PATIENT_STATUSES:
        raise MappingError("patient_status is not A, I or D")
    birth_text = _text(raw, "date_of_birth")
    return Demographics(
        id=record_id(raw),
        chart_id=_text(raw, "chart_id"),
        first_name=_text(raw, "first_name"),
        last_name=_text(raw, "last_name"),
        middle_name=_text(raw, "middle_name"),
        nick_name=_text(raw, "nick_name"),
        date_of_birth=_lenient_date(birth_text),
        date_of_birth_text=birth_text,
        status=PATIENT_STATUSES[status_code],
        gender=_text(raw, "gender"),
        date_of_death=_date(raw, "date_of_death"),
        email=_text(raw, "email"),
        home_phone=_text(raw, "home_phone"),
        cell_phone=_text(raw, "cell_phone"),
        address=Address(
            line1=_text(raw, "address"),
            city=_text(raw, "city"),
            state=_text(raw, "state"),
            zip_code=_text(raw, "zip_code"),
        ),
        social_security_number=_text(raw, "social_security_number"),
        race=_code(raw, "race"),
        ethnicity=_code(raw, "ethnicity"),
        preferred_language=_code(raw, "preferred_language"),
        primary_provider=_provider(raw, "doctor", providers),
        created_at=_datetime(raw, "created_at"),
    )


def present_insurances(patient: Raw) -> list[tuple[InsurancePriority, Raw]]:
    """The coverage sub-objects that hold a policy (DrChrono sends empty ones too)."""
    present = []
    for priority, field_name in INSURANCE_FIELDS.items():
        coverage = patient.get(field_name)
        if isinstance(coverage, Mapping) and any(
            _has_text(coverage, key) for key in _POLICY_FIELDS
        ):
            present.append((priority, coverage))
    return present


def card_image_count(coverage: Raw) -> int:
    return sum(1 for key in CARD_IMAGE_FIELDS if _has_text(coverage, key))


def has_photo(patient: Raw) -> bool:
    return _has_text(patient, "patient_photo")


def insurance(patient_id: str, priority: InsurancePriority, raw: Raw, file: FileMaker) -> Insurance:
    """One current coverage from the patient object; DrChrono keeps no coverage history."""
    label = f"patients {patient_id} {priority.value} insurance"
    front, back = (
        file(_text(raw, field_name), f"{label} card {side}", "jpg")
        if _has_text(raw, field_name)
        else None
        for side, field_name in zip(("front", "back"), CARD_IMAGE_FIELDS, strict=True)
    )
    subscriber = " ".join(
        part
        for part in (_text(raw, "subscriber_first_name"), _text(raw, "subscriber_last_name"))
        if part
    )
    return Insurance(
        id=f"{patient_id}-{priority.value}",
        priority=priority,
        company=_text(raw, "insurance_company"),
        is_current=True,
        payer_id=_text(raw, "insurance_payer_id"),
        plan_name=_text(raw, "insurance_plan_name"),
        plan_type=_text(raw, "insurance_plan_type"),
        member_id=_text(raw, "insurance_id_number"),
        group_name=_text(raw, "insurance_group_name"),
        group_number=_text(raw, "insurance_group_number"),
        subscriber_name=subscriber,
        relationship_to_subscriber=_text(raw, "patient_relationship_to_subscriber"),
        card_front=front,
        card_back=back,
    )


def patient_photo(patient: Raw, file: FileMaker) -> PhotoRecord | None:
    if not has_photo(patient):
        return None
    return PhotoRecord(
        file=file(_text(patient, "patient_photo"), f"patients {record_id(patient)} photo", "jpg"),
        taken_on=_date(patient, "patient_photo_date"),
    )


# -- Clinical lists ---------------------------------------------------------------------------


def payment(raw: Raw) -> Payment:
    amount = _decimal(raw, "amount")
    if amount is None:
        raise MappingError("amount is missing")
    return Payment(
        id=record_id(raw),
        received_date=_date(raw, "received_date"),
        amount=amount,
        method=_text(raw, "payment_method"),
        transaction_type=_text(raw, "payment_transaction_type"),
        posted_date=_date(raw, "posted_date"),
        trace_number=_text(raw, "trace_number"),
        appointment_id=_text(raw, "appointment"),
        notes=_text(raw, "notes"),
    )


def medication(raw: Raw, providers: Mapping[str, str]) -> Medication:
    return Medication(
        id=record_id(raw),
        name=_text(raw, "name"),
        rxnorm=_text(raw, "rxnorm"),
        ndc=_text(raw, "ndc"),
        dosage_quantity=_text(raw, "dosage_quantity"),
        dosage_units=_text(raw, "dosage_units"),
        frequency=_text(raw, "frequency"),
        route=_text(raw, "route"),
        status=_text(raw, "status"),
        date_prescribed=_date(raw, "date_prescribed"),
        date_started=_date(raw, "date_started_taking"),
        date_stopped=_date(raw, "date_stopped_taking"),
        prescriber=_provider(raw, "doctor", providers),
        indication=_text(raw, "indication"),
        notes=_text(raw, "notes"),
    )


def allergy(raw: Raw) -> Allergy:
    return Allergy(
        id=record_id(raw),
        description=_text(raw, "description"),
        reaction=_text(raw, "reaction"),
        status=_text(raw, "status"),
        snomed_code=_text(raw, "snomed_code"),
        rxnorm=_text(raw, "rxnorm"),
        snomed_reaction=_text(raw, "snomed_reaction"),
        notes=_text(raw, "notes"),
    )


def problem(raw: Raw) -> Problem:
    code = _text(raw, "icd_code")
    is_icd9 = _text(raw, "icd_version") == "9"
    return Problem(
        id=record_id(raw),
        name=_text(raw, "name") or _text(raw, "description"),
        icd10_code="" if is_icd9 else code,
        snomed_code=_text(raw, "snomed_ct_code"),
        status=_text(raw, "status"),
        date_onset=_date(raw, "date_onset"),
        date_diagnosis=_date(raw, "date_diagnosis"),
        date_resolved=_date(raw, "abatement_date"),
        notes=_joined(_text(raw, "notes"), f"ICD-9 {code}" if is_icd9 and code else ""),
    )


#: DrChrono's ``completion_status``: what the C-CDA and ``Immunization.status`` say instead
_VACCINE_STATUSES = {
    "CP": "completed",
    "RE": "refused",
    "NA": "not given",
    "PA": "partially administered",
}


def immunization(raw: Raw) -> Immunization:
    """A vaccine record. One without a CVX code keeps its name (the C-CDA codes it as
    "other", with the name as its text); one with neither is unreadable."""
    name, cvx = _text(raw, "name"), _code(raw, "cvx_code")
    if not name and not cvx:
        raise MappingError("the vaccine has neither a name nor a CVX code")
    status = _text(raw, "completion_status")
    administered = _datetime(raw, "administration_start")
    return Immunization(
        id=record_id(raw),
        vaccine=name or f"CVX {cvx}",
        cvx_code=cvx,
        administered_on=administered.date() if administered else None,
        status=_VACCINE_STATUSES.get(status.upper(), status) or "completed",
        lot_number=_text(raw, "lot_number"),
        manufacturer=_text(raw, "manufacturer"),
        notes=_joined(
            _text(raw, "comments"),
            _joined(_text(raw, "amount"), _text(raw, "units"), sep=" "),
            _text(raw, "route"),
            _text(raw, "site"),
        ),
    )


def is_break(appointment_raw: Raw) -> bool:
    """Calendar breaks are appointments without a patient: not patient data."""
    return appointment_raw.get("appt_is_break") is True


def appointment(raw: Raw, providers: Mapping[str, str], offices: Mapping[str, str]) -> Appointment:
    scheduled = _datetime(raw, "scheduled_time")
    if scheduled is None:
        raise MappingError("scheduled_time is missing")
    return Appointment(
        id=record_id(raw),
        scheduled_time=scheduled,
        duration_minutes=_int(raw, "duration") or 0,
        reason=_text(raw, "reason"),
        provider=_provider(raw, "doctor", providers),
        office=_provider(raw, "office", offices),
        status=_text(raw, "status"),
        icd10_codes=_strings(raw, "icd10_codes"),
        vitals=vitals(raw.get("vitals")),
        notes=_text(raw, "notes"),
        archived=raw.get("deleted_flag") is True,  # listed only with show_archived
    )


def has_clinical_note(appointment_raw: Raw) -> bool:
    return isinstance(appointment_raw.get("clinical_note"), Mapping)


def clinical_note(
    appointment_raw: Raw, providers: Mapping[str, str], file: FileMaker
) -> ClinicalNote:
    """The appointment's note. Its id is the appointment's: DrChrono gives the note none."""
    note = appointment_raw.get("clinical_note")
    if not isinstance(note, Mapping):
        raise MappingError("clinical_note is not an object")
    appointment_id = record_id(appointment_raw)
    scheduled = _datetime(appointment_raw, "scheduled_time")
    if scheduled is None:
        raise MappingError("scheduled_time is missing")
    locked = note.get("locked") is True
    pdf_url = _text(note, "pdf")
    if locked and not pdf_url:
        raise MappingError("locked clinical_note has no pdf")
    return ClinicalNote(
        id=appointment_id,
        date=scheduled,
        locked=locked,
        appointment_id=appointment_id,
        provider=_provider(appointment_raw, "doctor", providers),
        title=_text(appointment_raw, "reason"),
        # Unlocked notes are never exported, so their drafts are never fetched.
        pdf=file(pdf_url, f"clinical_notes {appointment_id}", "pdf") if locked else None,
    )


def document(raw: Raw, file: FileMaker) -> Document:
    identifier = record_id(raw)
    url = _text(raw, "document")
    return Document(
        id=identifier,
        date=_date(raw, "date"),
        description=_text(raw, "description"),
        tags=_metatags(raw),
        file=file(url, f"documents {identifier}", "pdf") if url else None,
        archived=raw.get("archived") is True,
    )


def patient_lab_result(raw: Raw, providers: Mapping[str, str], file: FileMaker) -> LabResult:
    """A result entered or scanned in by the practice (``/api/patient_lab_results``)."""
    identifier = record_id(raw)
    scan = _text(raw, "scanned_in_result")
    return LabResult(
        id=identifier,
        source=LabSource.MANUAL,
        test_name=_text(raw, "title"),
        date_performed=_date(raw, "date_test_performed"),
        loinc_code=_text(raw, "loinc_code"),
        value=_text(raw, "lab_result_value"),
        units=_text(raw, "lab_result_value_units"),
        normal_range=reference_range(
            _text(raw, "lab_normal_range"),
            _text(raw, "lab_normal_range_units") or _text(raw, "lab_result_value_units"),
        ),
        abnormal_flag=_text(raw, "lab_abnormal_flag"),
        status=_text(raw, "lab_order_status"),
        ordering_provider=_provider(raw, "ordering_doctor", providers),
        comments=_text(raw, "doctor_comments"),
        report=file(scan, f"patient_lab_results {identifier}", "pdf") if scan else None,
    )


def lab_source_of(vendor_name: str) -> LabSource:
    """Quest and LabCorp results go with the practice's own; other networks are integrations."""
    vendor = vendor_name.lower().replace(" ", "")
    if "quest" in vendor:
        return LabSource.QUEST
    if "labcorp" in vendor or "laboratorycorporation" in vendor:
        return LabSource.LABCORP
    return LabSource.INTEGRATION


def order_lab_result(
    raw: Raw,
    *,
    order: Raw,
    test: Raw | None,
    vendor_name: str,
    report_url: str,
    providers: Mapping[str, str],
    file: FileMaker,
) -> LabResult:
    """A result that came back on an electronic order (``/api/lab_results``)."""
    identifier = record_id(raw)
    test = test or {}
    return LabResult(
        id=identifier,
        source=lab_source_of(vendor_name),
        test_name=_text(raw, "observation_description") or _text(test, "name"),
        date_performed=_date(raw, "test_performed") or _date(test, "collection_date"),
        vendor=vendor_name,
        order_id=_text(raw, "lab_order"),
        loinc_code=_text(raw, "observation_code"),
        value=_text(raw, "value"),
        units=_text(raw, "unit"),
        normal_range=reference_range(_text(raw, "normal_range"), _text(raw, "unit")),
        abnormal_flag=_text(raw, "abnormal_status"),
        status=_text(raw, "status"),
        ordering_provider=_provider(order, "doctor", providers),
        comments=_text(raw, "comments"),
        report=file(report_url, f"lab_results {identifier}", "pdf") if report_url else None,
    )


def patient_message(raw: Raw, providers: Mapping[str, str], file: FileMaker) -> Message:
    identifier = record_id(raw)
    sent = _datetime(raw, "created_at")
    if sent is None:
        raise MappingError("created_at is missing")
    attachments = raw.get("attachments") or []
    if not isinstance(attachments, list) or not all(
        isinstance(item, Mapping) for item in attachments
    ):
        raise MappingError("attachments is not a list of objects")
    return Message(
        id=identifier,
        category=ONPATIENT_MESSAGES,
        received_at=sent,
        subject=_text(raw, "subject"),
        body=_text(raw, "body") or _text(raw, "message"),
        recipient=_provider(raw, "doctor", providers),
        attachments=tuple(
            Attachment(id=attachment_id, file=file(url, f"patient_messages {attachment_id}", "pdf"))
            for attachment_id, url in message_attachments(raw)
        ),
    )


def message_attachments(raw: Raw) -> list[tuple[str, str]]:
    """(attachment id, file URL) for each attachment that has a file: a portal message's
    ``attachments`` list, or a message-center item's single ``attachment``.

    DrChrono gives attachments no id of their own: "{message id}-{position}" is stable.
    """
    message_id = str(raw.get("id", ""))
    attachments = raw.get("attachments")
    if not isinstance(attachments, list):
        attachments = [raw] if "attachment" in raw else []
    return [
        (f"{message_id}-{position}", url)
        for position, item in enumerate(attachments, start=1)
        if isinstance(item, Mapping) and isinstance(url := item.get("attachment"), str) and url
    ]


def is_fax_or_referral(raw: Raw) -> bool:
    """Whether a message-center item is a fax or referral (else a Message Center message)."""
    code = raw.get("type")
    return isinstance(code, str) and code.strip() in FAX_AND_REFERRAL_TYPES


def message_center_item(raw: Raw, file: FileMaker) -> Message:
    """A message-center item that is no fax or referral: incoming labs, Direct messages, ..."""
    identifier = record_id(raw)
    received = _datetime(raw, "received_at")
    if received is None:
        raise MappingError("received_at is missing")
    notes = raw.get("message_notes") or []
    if not isinstance(notes, list) or not all(isinstance(note, Mapping) for note in notes):
        raise MappingError("message_notes is not a list of objects")
    return Message(
        id=identifier,
        category=message_center_category(raw),
        received_at=received,
        subject=_text(raw, "title"),
        body="\n\n".join(text for note in notes if (text := _text(note, "text"))),
        attachments=tuple(
            Attachment(id=attachment_id, file=file(url, f"messages {identifier}", "pdf"))
            for attachment_id, url in message_attachments(raw)
        ),
    )


def message_center_category(raw: Raw) -> str:
    code = _text(raw, "type")
    return MESSAGE_CENTER_CATEGORIES.get(code) or _text(raw, "type_description") or OTHER_MESSAGES


def fax_or_referral(raw: Raw, file: FileMaker) -> FaxOrReferral:
    identifier = record_id(raw)
    kind = FAX_AND_REFERRAL_TYPES.get(_text(raw, "type"))
    if kind is None:
        raise MappingError("type is not a fax or referral type")
    received = _datetime(raw, "received_at")
    if received is None:
        raise MappingError("received_at is missing")
    patient = _text(raw, "patient")
    url = _text(raw, "attachment")
    return FaxOrReferral(
        id=identifier,
        kind=kind,
        received_at=received,
        patient_id=patient or None,
        title=_text(raw, "title"),
        counterpart=_text(raw, "outgoing_fax_recipient_name"),
        file=file(url, f"messages {identifier}", "pdf") if url else None,
    )


def vitals(raw: Any) -> Vitals | None:
    """Vitals in US customary units (DrChrono may record metric: converted here)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MappingError("vitals is not an object")
    height = _decimal(raw, "height")
    weight = _decimal(raw, "weight")
    temperature = _decimal(raw, "temperature")
    smoking = _code(raw, "smoking_status")
    oxygen = _decimal(raw, "oxygen_saturation")
    result = Vitals(
        height_in=_convert(height, _text(raw, "height_units"), _TO_INCHES, "height_units"),
        weight_lb=_convert(weight, _text(raw, "weight_units"), _TO_POUNDS, "weight_units"),
        bmi=_decimal(raw, "bmi"),
        systolic_mmhg=_int(raw, "blood_pressure_1"),
        diastolic_mmhg=_int(raw, "blood_pressure_2"),
        pulse_bpm=_int(raw, "pulse"),
        temperature_f=_fahrenheit(temperature, _text(raw, "temperature_units")),
        respiratory_rate=_int(raw, "respiratory_rate"),
        oxygen_saturation=None if oxygen is None else int(oxygen.to_integral_value()),
        pain=_int(raw, "pain"),
        smoking_status=smoking,
    )
    return None if result.is_empty() else result


# -- Field readers ----------------------------------------------------------------------------


def record_id(raw: Raw) -> str:
    """The object's DrChrono id as text; an object without one cannot be a record."""
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise MappingError("id is missing")
    return str(value)


def _has_text(raw: Raw, key: str) -> bool:
    value = raw.get(key)
    return isinstance(value, str) and bool(value.strip())


def _text(raw: Raw, key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise MappingError(f"{key} is not text")


def _code(raw: Raw, key: str) -> str:
    value = _text(raw, key)
    return "" if value in _BLANK_CODES else value


def _strings(raw: Raw, key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MappingError(f"{key} is not a list of text")
    return tuple(item.strip() for item in value if item.strip())


def _lenient_date(text: str) -> date | None:
    try:
        return _parse_date(text)
    except ValueError:
        return None


def _parse_date(text: str) -> date | None:
    if not text:
        return None
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text).date()


def _date(raw: Raw, key: str) -> date | None:
    try:
        return _parse_date(_text(raw, key))
    except ValueError:
        raise MappingError(f"{key} is not a date") from None


def _datetime(raw: Raw, key: str) -> datetime | None:
    text = _text(raw, key)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{key} is not a date and time") from None


def _decimal(raw: Raw, key: str) -> Decimal | None:
    text = _text(raw, key)
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MappingError(f"{key} is not a number") from None
    if not value.is_finite():
        raise MappingError(f"{key} is not a number")
    return value


def _int(raw: Raw, key: str) -> int | None:
    value = _decimal(raw, key)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise MappingError(f"{key} is not a whole number")
    return int(value)


def _provider(raw: Raw, key: str, names: Mapping[str, str]) -> str:
    """A doctor's or office's name by id, else the id itself."""
    identifier = _text(raw, key)
    return names.get(identifier, identifier)


def _metatags(raw: Raw) -> tuple[str, ...]:
    """DrChrono's ``metatags`` is a JSON array serialised into a string."""
    text = _text(raw, "metatags")
    if not text:
        return ()
    try:
        tags = json.loads(text)
    except ValueError:
        return (text,)  # not JSON: kept whole rather than lost
    if isinstance(tags, list):
        return tuple(str(tag).strip() for tag in tags if str(tag).strip())
    return (str(tags),)


_TO_INCHES = {"": Decimal(1), "in": Decimal(1), "inches": Decimal(1), "cm": 1 / Decimal("2.54")}
_TO_POUNDS = {
    "": Decimal(1),
    "lb": Decimal(1),
    "lbs": Decimal(1),
    "pounds": Decimal(1),
    "kg": Decimal("2.20462"),
}


def _convert(
    value: Decimal | None, units: str, factors: Mapping[str, Decimal], key: str
) -> Decimal | None:
    if value is None:
        return None
    factor = factors.get(units.lower())
    if factor is None:
        raise MappingError(f"{key} is not a known unit")
    return value if factor == 1 else round(value * factor, 2)


def _fahrenheit(value: Decimal | None, units: str) -> Decimal | None:
    if value is None:
        return None
    units = units.lower().lstrip("°")
    if units in ("", "f", "fahrenheit"):
        return value
    if units in ("c", "celsius"):
        return round(value * 9 / 5 + 32, 1)
    raise MappingError("temperature_units is not a known unit")


def _joined(*parts: str, sep: str = "; ") -> str:
    return sep.join(part for part in parts if part)
