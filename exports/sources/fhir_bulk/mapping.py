"""FHIR R4 (US Core) resources -> the record model.

Each function takes one resource as the EHR exported it and returns a record, or raises
``MappingError`` naming the element that is wrong. Which resource becomes which kind of
record, and which fold into another (vital signs into their visit, a lab report's PDF into
its results), is decided in ``placement``; here each is only translated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..drchrono.mapping import lab_source_of
from ..records import (
    Address,
    Allergy,
    Appointment,
    Attachment,
    Blob,
    ClinicalNote,
    Demographics,
    Document,
    Immunization,
    Insurance,
    InsurancePriority,
    LabResult,
    LabSource,
    Medication,
    Message,
    PatientStatus,
    PhotoRecord,
    Problem,
    Vitals,
)
from .fhir import (
    CVX,
    ICD10CM,
    LOINC,
    NDC,
    RXNORM,
    SNOMED,
    US_SSN,
    MappingError,
    Resource,
    code_in,
    codings,
    concept_text,
    display,
    fhir_date,
    fhir_datetime,
    first,
    first_code,
    items,
    note_text,
    obj,
    period_end,
    period_start,
    text,
)

#: Makes a Blob for an Attachment: (attachment, label naming the record) -> Blob or None
FileMaker = Callable[[Mapping[str, Any], str], Blob | None]
DEFAULT_MESSAGE_CATEGORY = "Messages"

_GENDERS = {"male": "Male", "female": "Female", "other": "Other", "unknown": "UNK"}
_PRIORITIES = (InsurancePriority.PRIMARY, InsurancePriority.SECONDARY, InsurancePriority.TERTIARY)
_APPOINTMENT_STATUSES = {
    "fulfilled": "Complete",
    "finished": "Complete",
    "cancelled": "Cancelled",
    "noshow": "No Show",
    "booked": "Scheduled",
    "planned": "Scheduled",
    "pending": "Scheduled",
    "proposed": "Scheduled",
    "arrived": "Arrived",
    "checked-in": "Arrived",
    "in-progress": "In Session",
    "waitlist": "Waitlisted",
}
#: FHIR's "deleted": seen and counted, excluded like an appointment deleted from the calendar
_DELETED = "entered-in-error"
_RESULT_STATUSES = {
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "preliminary": "P",
    "registered": "P",
    "cancelled": "X",
}
_RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
_ETHNICITY_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"


def label(resource: Resource) -> str:
    """How errors name a record: its type and id (ids are not PHI)."""
    return f"{resource.get('resourceType', 'resource')} {resource.get('id', '')}".strip()


# -- People ---------------------------------------------------------------------------------


def demographics(patient: Resource, names: Callable[[Any], str]) -> Demographics:
    name = _official_name(patient)
    given = [g for g in items(name, "given") if isinstance(g, str)]
    birth_text = text(patient, "birthDate")
    try:
        birth = fhir_date(patient, "birthDate")
    except MappingError:
        birth = None  # kept as text: the customer sees what the EHR held
    death = fhir_date(patient, "deceasedDateTime")
    if death is not None or patient.get("deceasedBoolean") is True:
        status = PatientStatus.DECEASED
    elif patient.get("active") is False:
        status = PatientStatus.INACTIVE
    else:
        status = PatientStatus.ACTIVE
    address = first(patient, "address")
    lines = [line for line in items(address, "line") if isinstance(line, str)]
    nickname = next(
        (
            n
            for n in items(patient, "name")
            if isinstance(n, Mapping) and n.get("use") == "nickname"
        ),
        {},
    )
    return Demographics(
        id=str(patient["id"]),
        chart_id=_identifier(patient, type_code="MR") or str(patient["id"]),
        first_name=given[0] if given else "",
        middle_name=" ".join(given[1:]),
        last_name=text(name, "family"),
        nick_name=" ".join(g for g in items(nickname, "given") if isinstance(g, str)),
        date_of_birth=birth,
        date_of_birth_text=birth_text,
        status=status,
        gender=_GENDERS.get(text(patient, "gender"), ""),
        date_of_death=death,
        email=_telecom(patient, "email"),
        home_phone=_telecom(patient, "phone", "home"),
        cell_phone=_telecom(patient, "phone", "mobile"),
        address=Address(
            line1=lines[0] if lines else "",
            line2=" ".join(lines[1:]),
            city=text(address, "city"),
            state=text(address, "state"),
            zip_code=text(address, "postalCode"),
        ),
        social_security_number=_identifier(patient, system=US_SSN),
        race=_omb_extension(patient, _RACE_URL),
        ethnicity=_omb_extension(patient, _ETHNICITY_URL),
        preferred_language=first_code(obj(first(patient, "communication"), "language")),
        primary_provider=names(first(patient, "generalPractitioner")),
    )


def photo(patient: Resource, file: FileMaker) -> PhotoRecord | None:
    for attachment in items(patient, "photo"):
        blob = file(attachment, f"{label(patient)} photo")
        if blob is not None:
            return PhotoRecord(file=blob, taken_on=fhir_date(attachment, "creation"))
    return None


def has_photo(patient: Resource) -> bool:
    return photo_count(patient) > 0


def photo_count(patient: Resource) -> int:
    """The photos the Patient resource carries (inline or by URL); the deliverable ships the
    first and counts the others excluded."""
    return sum(
        1
        for a in items(patient, "photo")
        if isinstance(a, Mapping) and (a.get("data") or a.get("url"))
    )


def _official_name(patient: Resource) -> Mapping[str, Any]:
    names = [n for n in items(patient, "name") if isinstance(n, Mapping)]
    for use in ("official", "usual", None):
        for name in names:
            if name.get("use") == use or (use is None and name.get("use") != "nickname"):
                return name
    return {}


def _identifier(resource: Resource, *, type_code: str = "", system: str = "") -> str:
    for identifier in items(resource, "identifier"):
        if not isinstance(identifier, Mapping):
            continue
        if (system and identifier.get("system") == system) or (
            type_code and any(c.get("code") == type_code for c in codings(identifier.get("type")))
        ):
            return text(identifier, "value")
    return ""


def _telecom(patient: Resource, system: str, use: str = "") -> str:
    for contact in items(patient, "telecom"):
        if (
            isinstance(contact, Mapping)
            and contact.get("system") == system
            and (not use or contact.get("use") == use)
        ):
            return text(contact, "value")
    return ""


def _omb_extension(patient: Resource, url: str) -> str:
    for extension in items(patient, "extension"):
        if not isinstance(extension, Mapping) or extension.get("url") != url:
            continue
        for part in items(extension, "extension"):
            if isinstance(part, Mapping) and part.get("url") == "text":
                return text(part, "valueString")
        for part in items(extension, "extension"):
            if isinstance(part, Mapping) and part.get("url") == "ombCategory":
                return text(obj(part, "valueCoding"), "display")
    return ""


# -- Coverage -------------------------------------------------------------------------------


def insurance(coverage: Resource, names: Callable[[Any], str]) -> Insurance:
    order = coverage.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
        raise MappingError("order is not a number")
    priority = _PRIORITIES[min(max((order or 1) - 1, 0), 2)]
    end = period_end(coverage, "period")
    start = period_start(coverage, "period")
    classes = {
        first_code(obj(c, "type")): c for c in items(coverage, "class") if isinstance(c, Mapping)
    }
    plan, group = classes.get("plan", {}), classes.get("group", {})
    payor = first(coverage, "payor")
    return Insurance(
        id=str(coverage["id"]),
        priority=priority,
        company=names(payor),
        is_current=coverage.get("status") == "active" and end is None,
        payer_id=text(obj(payor, "identifier"), "value"),
        plan_name=text(plan, "name") or text(plan, "value"),
        plan_type=concept_text(coverage.get("type")),
        member_id=text(coverage, "subscriberId") or _identifier(coverage, type_code="MB"),
        group_name=text(group, "name"),
        group_number=text(group, "value"),
        subscriber_name=display(coverage.get("subscriber")),
        relationship_to_subscriber=concept_text(coverage.get("relationship")).capitalize(),
        start_date=start.date() if start else None,
        end_date=end.date() if end else None,
    )


# -- The chart ------------------------------------------------------------------------------


def allergy(resource: Resource) -> Allergy:
    code = resource.get("code")
    reaction = first(resource, "reaction")
    manifestation = first(reaction, "manifestation")
    return Allergy(
        id=str(resource["id"]),
        description=concept_text(code),
        reaction=concept_text(manifestation),
        severity=text(reaction, "severity"),
        status=first_code(resource.get("clinicalStatus")),
        snomed_code=code_in(code, SNOMED),
        rxnorm=code_in(code, RXNORM),
        snomed_reaction=code_in(manifestation, SNOMED),
        onset_date=fhir_date(resource, "onsetDateTime"),
        notes=note_text(resource),
    )


def problem(resource: Resource) -> Problem:
    code = resource.get("code")
    return Problem(
        id=str(resource["id"]),
        name=concept_text(code),
        icd10_code=code_in(code, ICD10CM),
        snomed_code=code_in(code, SNOMED),
        status=first_code(resource.get("clinicalStatus")),
        date_onset=fhir_date(resource, "onsetDateTime"),
        date_diagnosis=fhir_date(resource, "recordedDate"),
        date_resolved=fhir_date(resource, "abatementDateTime"),
        notes=note_text(resource),
    )


def medication(
    resource: Resource, record_id: str, drug: Mapping[str, Any], names: Callable[[Any], str]
) -> Medication:
    """A MedicationRequest or MedicationStatement; ``drug`` is its medication concept
    (resolved by the caller when the resource references a Medication)."""
    statement = resource.get("resourceType") == "MedicationStatement"
    dosage = first(resource, "dosage" if statement else "dosageInstruction")
    dose = obj(first(dosage, "doseAndRate"), "doseQuantity")
    if statement:
        started = period_start(resource, "effectivePeriod")
        started = started or fhir_datetime(resource, "effectiveDateTime")
        stopped = period_end(resource, "effectivePeriod")
        prescribed = fhir_date(resource, "dateAsserted")
        prescriber = names(resource.get("informationSource"))
    else:
        validity = obj(obj(resource, "dispenseRequest"), "validityPeriod")
        started, stopped = fhir_datetime(validity, "start"), fhir_datetime(validity, "end")
        prescribed = fhir_date(resource, "authoredOn")
        prescriber = names(resource.get("requester"))
    status = text(resource, "status")
    return Medication(
        id=record_id,
        name=concept_text(drug),
        rxnorm=code_in(drug, RXNORM),
        ndc=code_in(drug, NDC),
        dosage_quantity=_number_text(dose, "value"),
        dosage_units=text(dose, "unit"),
        frequency=concept_text(obj(obj(dosage, "timing"), "code")) or text(dosage, "text"),
        route=concept_text(dosage.get("route")),
        status={"stopped": "discontinued", "completed": "inactive"}.get(status, status),
        date_prescribed=prescribed,
        date_started=started.date() if started else None,
        date_stopped=stopped.date() if stopped else None,
        prescriber=prescriber,
        indication=concept_text(first(resource, "reasonCode")),
        notes=note_text(resource),
    )


def immunization(resource: Resource, record_id: str, names: Callable[[Any], str]) -> Immunization:
    """A vaccine given (or not: ``status`` not-done)."""
    vaccine = resource.get("vaccineCode")
    given = fhir_datetime(resource, "occurrenceDateTime")
    dose = obj(resource, "doseQuantity")
    status = text(resource, "status")
    details = (
        " ".join(part for part in (_number_text(dose, "value"), text(dose, "unit")) if part),
        concept_text(resource.get("route")),
        names(obj(first(resource, "performer"), "actor")),
        note_text(resource),
    )
    return Immunization(
        id=record_id,
        vaccine=concept_text(vaccine),
        cvx_code=code_in(vaccine, CVX),
        administered_on=given.date() if given else None,
        status={"completed": "completed", "not-done": "not given"}.get(status, status),
        lot_number=text(resource, "lotNumber"),
        manufacturer=names(resource.get("manufacturer")),
        notes="; ".join(part for part in details if part),
    )


# -- Visits ---------------------------------------------------------------------------------


def appointment(
    resource: Resource, vitals: Vitals | None, names: Callable[[Any], str]
) -> Appointment:
    start = fhir_datetime(resource, "start")
    if start is None:
        raise MappingError("start is missing")
    end = fhir_datetime(resource, "end")
    minutes = resource.get("minutesDuration")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)):
        raise MappingError("minutesDuration is not a number")
    if minutes is None and end is not None:
        minutes = int((end - start).total_seconds() // 60)
    actors = [p.get("actor") for p in items(resource, "participant") if isinstance(p, Mapping)]
    reasons = items(resource, "reasonCode")
    return Appointment(
        id=str(resource["id"]),
        scheduled_time=start,
        duration_minutes=minutes or 0,
        reason=text(resource, "description") or concept_text(first(resource, "reasonCode")),
        provider=next((names(a) for a in actors if _points_at(a, "Practitioner")), ""),
        office=next((names(a) for a in actors if _points_at(a, "Location")), ""),
        status=_APPOINTMENT_STATUSES.get(text(resource, "status"), text(resource, "status")),
        icd10_codes=tuple(code for r in reasons if (code := code_in(r, ICD10CM))),
        vitals=vitals,
        notes=text(resource, "comment"),
        archived=resource.get("status") == _DELETED,
    )


def encounter(
    resource: Resource, record_id: str, vitals: Vitals | None, names: Callable[[Any], str]
) -> Appointment:
    """A visit the EHR holds as an Encounter with no Appointment behind it."""
    start = period_start(resource, "period")
    if start is None:
        raise MappingError("period.start is missing")
    end = period_end(resource, "period")
    reasons = items(resource, "reasonCode")
    return Appointment(
        id=record_id,
        scheduled_time=start,
        duration_minutes=int((end - start).total_seconds() // 60) if end else 0,
        reason=concept_text(first(resource, "type")) or concept_text(first(resource, "reasonCode")),
        provider=names(obj(first(resource, "participant"), "individual")),
        office=names(obj(first(resource, "location"), "location"))
        or names(resource.get("serviceProvider")),
        status=_APPOINTMENT_STATUSES.get(text(resource, "status"), text(resource, "status")),
        icd10_codes=tuple(code for r in reasons if (code := code_in(r, ICD10CM))),
        vitals=vitals,
        archived=resource.get("status") == _DELETED,
    )


#: LOINC codes of the vital signs a visit holds, and the Vitals field each fills
VITAL_SIGN_CODES = {
    "8302-2": "height_in",
    "29463-7": "weight_lb",
    "39156-5": "bmi",
    "8480-6": "systolic_mmhg",
    "8462-4": "diastolic_mmhg",
    "85354-9": "blood_pressure",
    "8867-4": "pulse_bpm",
    "8310-5": "temperature_f",
    "9279-1": "respiratory_rate",
    "59408-5": "oxygen_saturation",
    "2708-6": "oxygen_saturation",
    "72514-3": "pain",
    "72166-2": "smoking_status",
}


def vital_sign_code(observation: Resource) -> str:
    """The observation's LOINC code when it is one a visit's vitals hold, else ""."""
    code = code_in(observation.get("code"), LOINC)
    return code if code in VITAL_SIGN_CODES else ""


def vitals(observations: list[Resource]) -> Vitals | None:
    values: dict[str, Any] = {}
    for observation in observations:
        field = VITAL_SIGN_CODES[vital_sign_code(observation)]
        if field == "blood_pressure":
            for component in items(observation, "component"):
                part = VITAL_SIGN_CODES.get(code_in(obj(component, "code"), LOINC), "")
                if part in ("systolic_mmhg", "diastolic_mmhg"):
                    values[part] = _whole(obj(component, "valueQuantity"))
        elif field == "smoking_status":
            values[field] = concept_text(observation.get("valueCodeableConcept"))
        else:
            quantity = obj(observation, "valueQuantity")
            value = _quantity(quantity)
            if value is None:
                continue
            unit = text(quantity, "code") or text(quantity, "unit")
            if field == "height_in" and unit == "cm":
                value = (value / Decimal("2.54")).quantize(Decimal("0.1"))
            elif field == "weight_lb" and unit == "kg":
                value = (value * Decimal("2.20462")).quantize(Decimal("0.1"))
            elif field == "temperature_f" and unit == "Cel":
                value = (value * 9 / 5 + 32).quantize(Decimal("0.1"))
            whole = field in ("systolic_mmhg", "diastolic_mmhg", "pulse_bpm", "pain")
            whole = whole or field in ("respiratory_rate", "oxygen_saturation")
            values[field] = int(value) if whole else value
    found = Vitals(**values)
    return None if found.is_empty() else found


# -- Results --------------------------------------------------------------------------------


def lab_source(performer_name: str) -> LabSource:
    """No performing lab named: entered at the practice; else by the lab's name."""
    return lab_source_of(performer_name) if performer_name else LabSource.MANUAL


def performer(resource: Resource, names: Callable[[Any], str]) -> str:
    return names(first(resource, "performer"))


def lab_result(
    observation: Resource, report: Blob | None, names: Callable[[Any], str]
) -> LabResult:
    quantity = obj(observation, "valueQuantity")
    value = _number_text(quantity, "value") or text(observation, "valueString")
    value = value or concept_text(observation.get("valueCodeableConcept"))
    reference = first(observation, "referenceRange")
    low, high = obj(reference, "low"), obj(reference, "high")
    normal_range = text(reference, "text")
    if not normal_range and (low or high):
        normal_range = f"{_number_text(low, 'value')}-{_number_text(high, 'value')}"
    vendor = performer(observation, names)
    based_on = first(observation, "basedOn")
    return LabResult(
        id=str(observation["id"]),
        source=lab_source(vendor),
        test_name=concept_text(observation.get("code")),
        date_performed=fhir_date(observation, "effectiveDateTime")
        or fhir_date(observation, "issued"),
        vendor=vendor,
        order_id=text(obj(based_on, "identifier"), "value") or display(based_on),
        loinc_code=code_in(observation.get("code"), LOINC),
        value=value,
        units=text(quantity, "unit") or text(quantity, "code"),
        normal_range=normal_range,
        abnormal_flag=first_code(first(observation, "interpretation")),
        status=_RESULT_STATUSES.get(text(observation, "status"), ""),
        comments=note_text(observation),
        report=report,
    )


def report_result(
    report: Resource, record_id: str, file: Blob | None, names: Callable[[Any], str]
) -> LabResult:
    """A DiagnosticReport whose results the export does not hold, as a result of its own."""
    vendor = performer(report, names)
    return LabResult(
        id=record_id,
        source=lab_source(vendor),
        test_name=concept_text(report.get("code")),
        date_performed=fhir_date(report, "effectiveDateTime") or fhir_date(report, "issued"),
        vendor=vendor,
        loinc_code=code_in(report.get("code"), LOINC),
        status=_RESULT_STATUSES.get(text(report, "status"), ""),
        ordering_provider=names(first(report, "resultsInterpreter")),
        comments=text(report, "conclusion"),
        report=file,
    )


# -- Documents and messages -----------------------------------------------------------------


def clinical_note(
    document: Resource, appointment_id: str, pdf: Blob | None, names: Callable[[Any], str]
) -> ClinicalNote:
    when = fhir_datetime(document, "date") or period_start(obj(document, "context"), "period")
    if when is None:
        raise MappingError("date is missing")
    return ClinicalNote(
        id=str(document["id"]),
        date=when,
        locked=document.get("docStatus") not in ("preliminary", _DELETED),
        appointment_id=appointment_id,
        provider=names(first(document, "author")),
        title=concept_text(document.get("type")) or text(document, "description"),
        pdf=pdf,
    )


def document(resource: Resource, record_id: str, file: Blob | None) -> Document:
    tags = [concept_text(c) for c in items(resource, "category")]
    tags.append(concept_text(resource.get("type")))
    return Document(
        id=record_id,
        date=fhir_date(resource, "date"),
        description=text(resource, "description") or concept_text(resource.get("type")),
        tags=tuple(dict.fromkeys(t for t in tags if t)),
        file=file,
        archived=resource.get("status") not in (None, "current"),
    )


def message(resource: Resource, file: FileMaker, names: Callable[[Any], str]) -> Message:
    when = fhir_datetime(resource, "sent") or fhir_datetime(resource, "received")
    if when is None:
        raise MappingError("sent is missing")
    bodies, attachments = [], []
    for number, payload in enumerate(items(resource, "payload")):
        if not isinstance(payload, Mapping):
            raise MappingError("payload is not an object")
        if "contentString" in payload:
            bodies.append(text(payload, "contentString"))
        elif "contentAttachment" in payload:
            attachment = obj(payload, "contentAttachment")
            blob = file(attachment, f"{label(resource)} attachment {number}")
            if blob is None:
                raise MappingError("an attachment has neither data nor url")
            attachments.append(
                Attachment(
                    id=f"{resource['id']}-{number}", file=blob, name=text(attachment, "title")
                )
            )
    return Message(
        id=str(resource["id"]),
        category=concept_text(first(resource, "category")) or DEFAULT_MESSAGE_CATEGORY,
        received_at=when,
        subject=concept_text(resource.get("topic")),
        body="\n\n".join(b for b in bodies if b),
        sender=names(resource.get("sender")),
        recipient=names(first(resource, "recipient")),
        attachments=tuple(attachments),
    )


def message_attachment_count(resource: Resource) -> int:
    return sum(
        isinstance(p, Mapping) and "contentAttachment" in p for p in resource.get("payload") or ()
    )


# -- Values ---------------------------------------------------------------------------------


def _points_at(reference: Any, resource_type: str) -> bool:
    value = reference.get("reference") if isinstance(reference, Mapping) else None
    return isinstance(value, str) and f"{resource_type}/" in value


def _quantity(quantity: Mapping[str, Any]) -> Decimal | None:
    value = quantity.get("value")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingError("a quantity's value is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MappingError("a quantity's value is not a number") from None


def _number_text(quantity: Mapping[str, Any], key: str) -> str:
    value = _quantity({"value": quantity.get(key)})
    return "" if value is None else str(value)


def _whole(quantity: Mapping[str, Any]) -> int | None:
    value = _quantity(quantity)
    return None if value is None else int(value)
