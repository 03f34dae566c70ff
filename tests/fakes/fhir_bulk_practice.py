"""The demo practice as a FHIR R4 (US Core) server would export it, for the fake Bulk Data
server: the same patients go through both sources, so their deliverables can be compared.

``fhir_practice(DemoSource(...))`` gives the resources by type and the files (``Blob``\\ s)
the resources' attachments point at (``Binary/<id>``). What FHIR has no resource for (patient
payments, faxes and referrals) is not exported; the demo's unreadable lab result becomes an
NDJSON line that is not JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from exports.sources.demo import DemoSource
from exports.sources.fhir_bulk.fhir import CVX, ICD10CM, LOINC, RXNORM, SNOMED, US_SSN
from exports.sources.records import (
    Appointment,
    Blob,
    Category,
    Document,
    InsurancePriority,
    LabResult,
    PatientRecord,
    PatientStatus,
    Vitals,
)

#: an NDJSON line that is not JSON, where the demo has a lab result it cannot read
UNREADABLE_LINE = "{this is not json"
_MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "png": "image/png",
    "txt": "text/plain",
    "xml": "application/xml",
}
_APPOINTMENT_STATUSES = {"Complete": "fulfilled", "Cancelled": "cancelled", "No Show": "noshow"}
_MEDICATION_STATUSES = {"active": "active", "inactive": "completed", "discontinued": "stopped"}
_RESULT_STATUSES = {"F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled"}
_GENDERS = {"Male": "male", "Female": "female", "Other": "other", "UNK": "unknown"}
_VITALS = (
    ("height_in", "8302-2", "Body height", "[in_i]"),
    ("weight_lb", "29463-7", "Body weight", "[lb_av]"),
    ("bmi", "39156-5", "Body mass index", "kg/m2"),
    ("pulse_bpm", "8867-4", "Heart rate", "/min"),
    ("temperature_f", "8310-5", "Body temperature", "[degF]"),
    ("respiratory_rate", "9279-1", "Respiratory rate", "/min"),
    ("oxygen_saturation", "59408-5", "Oxygen saturation", "%"),
    ("pain", "72514-3", "Pain severity", "{score}"),
)
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
        }
    ]
}
LABORATORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
        }
    ]
}
CLINICAL_NOTE = {
    "coding": [
        {
            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note",
        }
    ]
}


@dataclass
class FhirPractice:
    """Resources by type (each a JSON-ready dict, or ``UNREADABLE_LINE``) and files by id."""

    resources: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    binaries: dict[str, Blob] = field(default_factory=dict)
    #: what the demo holds that FHIR does not carry, per category (payments, faxes)
    not_exported: dict[Category, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, resource: Any) -> None:
        kind = resource["resourceType"] if isinstance(resource, dict) else "Observation"
        self.resources[kind].append(resource)

    def patients(self) -> list[dict[str, Any]]:
        return self.resources["Patient"]

    def attachment(self, binary_id: str, blob: Blob, **extra: Any) -> dict[str, Any]:
        self.binaries[binary_id] = blob
        return {
            "contentType": _MEDIA_TYPES.get(blob.extension, "application/octet-stream"),
            "url": f"Binary/{binary_id}",
            **extra,
        }


def fhir_practice(demo: DemoSource) -> FhirPractice:
    practice = FhirPractice()
    for patient_id in demo.patient_ids():
        _Converter(practice, demo.read_patient(patient_id)).convert()
    practice.not_exported[Category.FAXES_AND_REFERRALS] += demo.unattached_count
    return practice


def _reference(kind: str, resource_id: str, shown: str = "") -> dict[str, str]:
    reference = {"reference": f"{kind}/{resource_id}"}
    if shown:
        reference["display"] = shown
    return reference


def _coded(system: str, code: str, shown: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": shown} if shown else {}
    if code:
        concept["coding"] = [{"system": system, "code": code, "display": shown}]
    return concept


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _moment(value: datetime) -> str:
    return value.isoformat()


def _note(text: str) -> list[dict[str, str]] | None:
    return [{"text": text}] if text else None


def _compact(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


class _Converter:
    def __init__(self, practice: FhirPractice, record: PatientRecord) -> None:
        self.practice = practice
        self.record = record
        self.id = record.demographics.id
        self.subject = _reference("Patient", self.id)

    def convert(self) -> None:
        self._patient()
        self._coverages()
        self._visits()
        self._chart()
        self._documents()
        self._results()
        self._messages()
        self.practice.not_exported[Category.PAYMENTS] += len(self.record.payments)
        self.practice.not_exported[Category.FAXES_AND_REFERRALS] += len(
            self.record.faxes_and_referrals
        )

    def _patient(self) -> None:
        d = self.record.demographics
        extensions = []
        for url, value in (("us-core-race", d.race), ("us-core-ethnicity", d.ethnicity)):
            if value:
                extensions.append(
                    {
                        "url": f"http://hl7.org/fhir/us/core/StructureDefinition/{url}",
                        "extension": [{"url": "text", "valueString": value}],
                    }
                )
        photo = None
        if self.record.photo is not None:
            photo = [self.practice.attachment(f"photo-{self.id}", self.record.photo.file)]
        self.practice.add(
            _compact(
                {
                    "resourceType": "Patient",
                    "id": self.id,
                    "extension": extensions,
                    "identifier": [
                        {"type": {"coding": [{"code": "MR"}]}, "value": d.chart_id},
                        {"system": US_SSN, "value": d.social_security_number},
                    ],
                    "active": d.status is not PatientStatus.INACTIVE,
                    "name": [
                        _compact(
                            {
                                "use": "official",
                                "family": d.last_name,
                                "given": [g for g in (d.first_name, d.middle_name) if g],
                            }
                        )
                    ],
                    "telecom": [
                        {"system": "email", "value": d.email},
                        {"system": "phone", "use": "home", "value": d.home_phone},
                        {"system": "phone", "use": "mobile", "value": d.cell_phone},
                    ],
                    "gender": _GENDERS.get(d.gender),
                    "birthDate": d.date_of_birth_text,
                    "deceasedDateTime": _day(d.date_of_death),
                    "deceasedBoolean": True
                    if d.status is PatientStatus.DECEASED and not d.date_of_death
                    else None,
                    "address": [
                        _compact(
                            {
                                "line": [x for x in (d.address.line1, d.address.line2) if x],
                                "city": d.address.city,
                                "state": d.address.state,
                                "postalCode": d.address.zip_code,
                            }
                        )
                    ],
                    "communication": [{"language": {"coding": [{"code": d.preferred_language}]}}]
                    if d.preferred_language
                    else None,
                    "generalPractitioner": [{"display": d.primary_provider}]
                    if d.primary_provider
                    else None,
                    "photo": photo,
                }
            )
        )

    def _coverages(self) -> None:
        order = {p: n for n, p in enumerate(InsurancePriority, start=1)}
        for insurance in self.record.insurances:
            self.practice.add(
                _compact(
                    {
                        "resourceType": "Coverage",
                        "id": insurance.id,
                        "status": "active",
                        "order": order[insurance.priority],
                        "beneficiary": self.subject,
                        "subscriberId": insurance.member_id,
                        "subscriber": {"display": insurance.subscriber_name},
                        "relationship": {"text": insurance.relationship_to_subscriber},
                        "type": {"text": insurance.plan_type},
                        "period": _compact(
                            {
                                "start": _day(insurance.start_date),
                                "end": _day(insurance.end_date),
                            }
                        ),
                        "payor": [
                            {
                                "display": insurance.company,
                                "identifier": {"value": insurance.payer_id},
                            }
                        ],
                        "class": [
                            {
                                "type": {"coding": [{"code": "plan"}]},
                                "value": insurance.plan_name,
                                "name": insurance.plan_name,
                            },
                            {
                                "type": {"coding": [{"code": "group"}]},
                                "value": insurance.group_number,
                                "name": insurance.group_name,
                            },
                        ],
                    }
                )
            )
            for side, blob in (("front", insurance.card_front), ("back", insurance.card_back)):
                if blob is None:
                    continue
                card_id = f"card-{insurance.id}-{side}"
                self.practice.add(
                    {
                        "resourceType": "DocumentReference",
                        "id": card_id,
                        "status": "current",
                        "type": _coded(LOINC, "64290-0", "Health insurance card"),
                        "subject": self.subject,
                        "description": f"Insurance card, {side}",
                        "content": [
                            {"attachment": self.practice.attachment(card_id, blob, title=side)}
                        ],
                        "context": {"related": [_reference("Coverage", insurance.id)]},
                    }
                )

    def _visits(self) -> None:
        notes = {note.appointment_id: note for note in self.record.clinical_notes}
        for appointment in self.record.appointments:
            self.practice.add(self._appointment(appointment))
            note = notes.pop(appointment.id, None)
            if appointment.vitals is None and note is None:
                continue
            encounter_id = f"enc-{appointment.id}"
            self.practice.add(
                {
                    "resourceType": "Encounter",
                    "id": encounter_id,
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": self.subject,
                    "appointment": [_reference("Appointment", appointment.id)],
                    "period": {"start": _moment(appointment.scheduled_time)},
                }
            )
            if appointment.vitals is not None:
                self._vital_signs(appointment, appointment.vitals, encounter_id)
            if note is not None:
                content: dict[str, Any] = {"contentType": "application/pdf", "title": note.title}
                if note.pdf is not None:
                    content = self.practice.attachment(f"note-{note.id}", note.pdf)
                self.practice.add(
                    {
                        "resourceType": "DocumentReference",
                        "id": note.id,
                        "status": "current",
                        "docStatus": "final" if note.locked else "preliminary",
                        "type": _coded(LOINC, "11506-3", note.title),
                        "category": [CLINICAL_NOTE],
                        "subject": self.subject,
                        "date": _moment(note.date),
                        "author": [{"display": note.provider}],
                        "content": [{"attachment": content}],
                        "context": {"encounter": [_reference("Encounter", encounter_id)]},
                    }
                )
        assert not notes, "every demo note is on an appointment"

    def _appointment(self, appointment: Appointment) -> dict[str, Any]:
        status = _APPOINTMENT_STATUSES[appointment.status]
        return _compact(
            {
                "resourceType": "Appointment",
                "id": appointment.id,
                "status": "entered-in-error" if appointment.archived else status,
                "description": appointment.reason,
                "reasonCode": [
                    {"coding": [{"system": ICD10CM, "code": code}]}
                    for code in appointment.icd10_codes
                ],
                "start": _moment(appointment.scheduled_time),
                "minutesDuration": appointment.duration_minutes,
                "comment": appointment.notes,
                "participant": [
                    {"actor": self.subject, "status": "accepted"},
                    {
                        "actor": {"reference": "Practitioner/p1", "display": appointment.provider},
                        "status": "accepted",
                    },
                    {
                        "actor": {"reference": "Location/l1", "display": appointment.office},
                        "status": "accepted",
                    },
                ],
            }
        )

    def _vital_signs(self, appointment: Appointment, vitals: Vitals, encounter_id: str) -> None:
        common = {
            "resourceType": "Observation",
            "status": "final",
            "category": [VITAL_SIGNS],
            "subject": self.subject,
            "encounter": _reference("Encounter", encounter_id),
            "effectiveDateTime": _moment(appointment.scheduled_time),
        }
        for number, (name, loinc, shown, unit) in enumerate(_VITALS):
            value = getattr(vitals, name)
            if value is None:
                continue
            self.practice.add(
                {
                    **common,
                    "id": f"vital-{appointment.id}-{number}",
                    "code": _coded(LOINC, loinc, shown),
                    "valueQuantity": {"value": float(value), "unit": unit, "code": unit},
                }
            )
        if vitals.systolic_mmhg is not None:
            self.practice.add(
                {
                    **common,
                    "id": f"vital-{appointment.id}-bp",
                    "code": _coded(LOINC, "85354-9", "Blood pressure panel"),
                    "component": [
                        {
                            "code": _coded(LOINC, "8480-6", "Systolic"),
                            "valueQuantity": {"value": vitals.systolic_mmhg, "unit": "mm[Hg]"},
                        },
                        {
                            "code": _coded(LOINC, "8462-4", "Diastolic"),
                            "valueQuantity": {"value": vitals.diastolic_mmhg, "unit": "mm[Hg]"},
                        },
                    ],
                }
            )
        if vitals.smoking_status:
            self.practice.add(
                {
                    **common,
                    "id": f"vital-{appointment.id}-smoking",
                    "code": _coded(LOINC, "72166-2", "Tobacco smoking status"),
                    "valueCodeableConcept": {"text": vitals.smoking_status},
                }
            )

    def _chart(self) -> None:
        for immunization in self.record.immunizations:
            self.practice.add(
                _compact(
                    {
                        "resourceType": "Immunization",
                        "id": immunization.id,
                        "status": "completed",
                        "vaccineCode": _coded(CVX, immunization.cvx_code, immunization.vaccine),
                        "patient": self.subject,
                        "occurrenceDateTime": _day(immunization.administered_on),
                        "lotNumber": immunization.lot_number,
                    }
                )
            )
        for medication in self.record.medications:
            dose = {"value": float(medication.dosage_quantity), "unit": medication.dosage_units}
            self.practice.add(
                _compact(
                    {
                        "resourceType": "MedicationRequest",
                        "id": medication.id,
                        "status": _MEDICATION_STATUSES[medication.status],
                        "intent": "order",
                        "subject": self.subject,
                        "medicationCodeableConcept": _coded(
                            RXNORM, medication.rxnorm, medication.name
                        ),
                        "authoredOn": _day(medication.date_prescribed),
                        "requester": {"display": medication.prescriber},
                        "dosageInstruction": [
                            {
                                "timing": {"code": {"text": medication.frequency}},
                                "route": {"text": medication.route},
                                "doseAndRate": [{"doseQuantity": dose}],
                            }
                        ],
                        "dispenseRequest": {
                            "validityPeriod": _compact(
                                {
                                    "start": _day(medication.date_started),
                                    "end": _day(medication.date_stopped),
                                }
                            )
                        },
                        "note": _note(medication.notes),
                    }
                )
            )
        for allergy in self.record.allergies:
            system, code = (
                (SNOMED, allergy.snomed_code) if allergy.snomed_code else (RXNORM, allergy.rxnorm)
            )
            self.practice.add(
                _compact(
                    {
                        "resourceType": "AllergyIntolerance",
                        "id": allergy.id,
                        "clinicalStatus": {"coding": [{"code": allergy.status}]},
                        "patient": self.subject,
                        "code": _coded(system, code, allergy.description),
                        "onsetDateTime": _day(allergy.onset_date),
                        "reaction": [
                            {
                                "manifestation": [
                                    _coded(SNOMED, allergy.snomed_reaction, allergy.reaction)
                                ],
                                "severity": allergy.severity,
                            }
                        ],
                        "note": _note(allergy.notes),
                    }
                )
            )
        for problem in self.record.problems:
            code = _coded(ICD10CM, problem.icd10_code, problem.name)
            code.setdefault("coding", []).append({"system": SNOMED, "code": problem.snomed_code})
            self.practice.add(
                _compact(
                    {
                        "resourceType": "Condition",
                        "id": problem.id,
                        "clinicalStatus": {"coding": [{"code": problem.status}]},
                        "category": [{"coding": [{"code": "problem-list-item"}]}],
                        "subject": self.subject,
                        "code": code,
                        "onsetDateTime": _day(problem.date_onset),
                        "recordedDate": _day(problem.date_diagnosis),
                        "abatementDateTime": _day(problem.date_resolved),
                        "note": _note(problem.notes),
                    }
                )
            )

    def _documents(self) -> None:
        for document in self.record.documents:
            self.practice.add(self._document(document))

    def _document(self, document: Document) -> dict[str, Any]:
        content: dict[str, Any] = {"contentType": "application/pdf"}
        if document.file is not None:
            content = self.practice.attachment(f"doc-{document.id}", document.file)
        return _compact(
            {
                "resourceType": "DocumentReference",
                "id": document.id,
                "status": "superseded" if document.archived else "current",
                "type": {"text": document.tags[0] if document.tags else ""},
                "category": [{"text": tag} for tag in document.tags[1:]],
                "subject": self.subject,
                "date": _day(document.date),
                "description": document.description,
                "content": [{"attachment": content}],
            }
        )

    def _results(self) -> None:
        for failure in self.record.failures:
            assert failure.category in (Category.LAB_RESULTS, Category.INTEGRATION_LAB_RESULTS)
            self.practice.add(UNREADABLE_LINE)
        for result in self.record.lab_results:
            self.practice.add(self._observation(result))
            if result.report is not None:
                report_id = f"dr-{result.id}"
                self.practice.add(
                    _compact(
                        {
                            "resourceType": "DiagnosticReport",
                            "id": report_id,
                            "status": "final",
                            "category": [LABORATORY],
                            "code": _coded(LOINC, result.loinc_code, result.test_name),
                            "subject": self.subject,
                            "result": [_reference("Observation", result.id)],
                            "presentedForm": [
                                self.practice.attachment(f"report-{result.id}", result.report)
                            ],
                        }
                    )
                )

    def _observation(self, result: LabResult) -> dict[str, Any]:
        return _compact(
            {
                "resourceType": "Observation",
                "id": result.id,
                "status": _RESULT_STATUSES[result.status],
                "category": [LABORATORY],
                "code": _coded(LOINC, result.loinc_code, result.test_name),
                "subject": self.subject,
                "effectiveDateTime": _day(result.date_performed),
                "performer": [{"display": result.vendor}] if result.vendor else None,
                "basedOn": [{"identifier": {"value": result.order_id}}],
                "valueQuantity": {"value": float(result.value), "unit": result.units},
                "referenceRange": [{"text": result.normal_range}],
                "interpretation": [{"coding": [{"code": result.abnormal_flag}]}]
                if result.abnormal_flag
                else None,
                "note": _note(result.comments),
            }
        )

    def _messages(self) -> None:
        for message in self.record.messages:
            payload: list[dict[str, Any]] = [{"contentString": message.body}]
            for attachment in message.attachments:
                payload.append(
                    {
                        "contentAttachment": self.practice.attachment(
                            f"att-{attachment.id}", attachment.file, title=attachment.name
                        )
                    }
                )
            self.practice.add(
                _compact(
                    {
                        "resourceType": "Communication",
                        "id": message.id,
                        "status": "completed",
                        "category": [{"text": message.category}],
                        "subject": self.subject,
                        "topic": {"text": message.subject},
                        "sent": _moment(message.received_at),
                        "sender": {"display": message.sender},
                        "recipient": [{"display": message.recipient}],
                        "payload": payload,
                    }
                )
            )


def ndjson_lines(resources: list[Any]) -> Iterator[bytes]:
    for resource in resources:
        line = resource if isinstance(resource, str) else json.dumps(resource)
        yield line.encode() + b"\n"
