"""Where each exported resource goes in the deliverable, decided from the spool alone.

Counting (``counts_in_source``) and reading (``read_patient``) ask the same questions here,
so a resource is either one record of a category, several (a message and its attachments),
or folded into another record (vital signs into their visit, a lab report's PDF into its
results, an Encounter into the Appointment it fulfils): none is counted twice or left out.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..drchrono.spool import Spool
from ..records import Category, LabSource
from . import mapping
from .fhir import (
    LOINC,
    MappingError,
    Resource,
    code_in,
    codings,
    items,
    obj,
    reference_id,
)

#: the resource types the export asks for: the deliverable's records and what they name
EXPORT_TYPES = (
    "Patient",
    "Coverage",
    "Appointment",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationStatement",
    "Medication",
    "Immunization",
    "Observation",
    "DiagnosticReport",
    "DocumentReference",
    "Communication",
    "Practitioner",
    "Organization",
    "Location",
)
#: each patient's resource types, and the category a record of the type counts under when
#: nothing more can be said of it (an unreadable line, an export error naming it)
CATEGORY_OF_TYPE: Mapping[str, Category] = {
    "Patient": Category.PATIENTS,
    "Coverage": Category.INSURANCE,
    "Appointment": Category.APPOINTMENTS,
    "Encounter": Category.APPOINTMENTS,
    "Condition": Category.PROBLEMS,
    "AllergyIntolerance": Category.ALLERGIES,
    "MedicationRequest": Category.MEDICATIONS,
    "MedicationStatement": Category.MEDICATIONS,
    "Immunization": Category.IMMUNIZATIONS,
    "Observation": Category.LAB_RESULTS,
    "DiagnosticReport": Category.LAB_RESULTS,
    "DocumentReference": Category.DOCUMENTS,
    "Communication": Category.MESSAGES,
}
PATIENT_TYPES = tuple(kind for kind in CATEGORY_OF_TYPE if kind != "Patient")
#: ids of records made from these types carry a prefix: they share a category with others
_ID_PREFIXES = {
    "Encounter": "encounter-",
    "MedicationStatement": "statement-",
    "Immunization": "immunization-",
    "DiagnosticReport": "report-",
}
INSURANCE_CARD_LOINC = "64290-0"
CCDA_FORMAT_PREFIX = "urn:hl7-org:sdwg:ccda"
#: "Summary of episode note": a CCD, when it comes as XML
CCD_LOINC = "34133-9"
CLINICAL_NOTE_CATEGORY = "clinical-note"
#: patients whose reports' PDF owners are remembered while counting (in id order, not by patient)
_PDF_OWNER_CACHE_PATIENTS = 1024


class DocumentRole(enum.Enum):
    CARD = "insurance card image"
    CCDA = "C-CDA"
    NOTE = "clinical note"
    DOCUMENT = "document"


def record_id(kind: str, resource_id: str) -> str:
    return f"{_ID_PREFIXES.get(kind, '')}{resource_id}"


def patient_of(resource: Resource) -> str | None:
    """The id of the patient a resource belongs to, if it names one."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        value = resource.get("id")
        return str(value) if isinstance(value, str | int) else None
    for key in ("subject", "patient", "beneficiary"):
        found = reference_id(resource.get(key), "Patient")
        if found:
            return found
    if kind == "Appointment":
        for participant in resource.get("participant") or ():
            if isinstance(participant, Mapping):
                found = reference_id(participant.get("actor"), "Patient")
                if found:
                    return found
    return None


def document_role(document: Resource) -> DocumentRole:
    kind = document.get("type")
    if code_in(kind, LOINC) == INSURANCE_CARD_LOINC:
        return DocumentRole.CARD
    for content in document.get("content") or ():
        if isinstance(content, Mapping):
            code = (
                content.get("format", {}).get("code")
                if isinstance(content.get("format"), Mapping)
                else None
            )
            if isinstance(code, str) and code.startswith(CCDA_FORMAT_PREFIX):
                return DocumentRole.CCDA
    if code_in(kind, LOINC) == CCD_LOINC and any(
        str(a.get("contentType", "")).endswith("xml") for a in attachments(document)
    ):
        return DocumentRole.CCDA
    for category in document.get("category") or ():
        if any(coding.get("code") == CLINICAL_NOTE_CATEGORY for coding in codings(category)):
            return DocumentRole.NOTE
    return DocumentRole.DOCUMENT


def presented_forms(report: Resource) -> list[Mapping[str, Any]]:
    """A DiagnosticReport's files (``presentedForm``: a PDF, mostly); the first goes with its
    results, each further one is a lab result of its own (``report_file_id``)."""
    found = _safe(lambda: items(report, "presentedForm")) or []
    return [form for form in found if isinstance(form, Mapping)]


def has_presented_form(report: Resource) -> bool:
    return bool(presented_forms(report))


def report_file_id(report_id: str, number: int) -> str:
    """The lab result id of a report's file after the first (``number`` 2, 3, ...)."""
    return f"{record_id('DiagnosticReport', report_id)}-file-{number}"


def attachments(document: Resource) -> list[Mapping[str, Any]]:
    """A DocumentReference's attachments that hold a file (data or url)."""
    found = []
    for content in document.get("content") or ():
        attachment = content.get("attachment") if isinstance(content, Mapping) else None
        if isinstance(attachment, Mapping) and (attachment.get("data") or attachment.get("url")):
            found.append(attachment)
    return found


class Placement:
    """Answers, from the spool, what each resource becomes."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._pdf_owner_cache: OrderedDict[str | None, dict[str, str]] = OrderedDict()

    def units(self, kind: str, resource: Resource, patient_id: str | None) -> list[Category]:
        """The records a resource counts as, one category each (none when it folds)."""
        if kind == "Patient":
            return [Category.PATIENTS] + [Category.PATIENT_PHOTOS] * _photo_count(resource)
        if kind == "Encounter":
            return [] if self.linked_appointment(resource, patient_id) else [Category.APPOINTMENTS]
        if kind == "Observation":
            return (
                [] if self.visit_of_vital(resource, patient_id) else [self.lab_category(resource)]
            )
        if kind == "DiagnosticReport":
            folds = self.results_of(resource, patient_id) and (
                not has_presented_form(resource) or self.pdf_results_of(resource, patient_id)
            )
            further_files = max(len(presented_forms(resource)) - 1, 0)
            return [self.lab_category(resource)] * ((0 if folds else 1) + further_files)
        if kind == "DocumentReference":
            role = document_role(resource)
            if role is DocumentRole.CARD:
                return [Category.INSURANCE_CARD_IMAGES] * len(attachments(resource))
            if role is DocumentRole.CCDA and self.is_chosen_ccda(resource, patient_id):
                return []
            return [Category.CLINICAL_NOTES if role is DocumentRole.NOTE else Category.DOCUMENTS]
        if kind == "Communication":
            return [Category.MESSAGES] + [Category.MESSAGE_ATTACHMENTS] * _attachment_count(
                resource
            )
        category = CATEGORY_OF_TYPE.get(kind)
        return [] if category is None else [category]

    def linked_appointment(self, encounter: Resource, patient_id: str | None) -> str:
        """The id of the patient's Appointment the Encounter fulfils, else ""."""
        for reference in _list(encounter, "appointment"):
            found = reference_id(reference, "Appointment")
            if found and self._owned("Appointment", found, patient_id):
                return found
        return ""

    def visit_of(self, encounter_reference: Any, patient_id: str | None) -> str:
        """The appointment record id of the patient's Encounter a reference names, else ""."""
        encounter_id = reference_id(encounter_reference, "Encounter")
        if not encounter_id:
            return ""
        spooled = self._spool.get("Encounter", encounter_id)
        if spooled is None or spooled.patient_id != patient_id:
            return ""
        return self.linked_appointment(spooled.body, patient_id) or record_id(
            "Encounter", encounter_id
        )

    def visit_of_vital(self, observation: Resource, patient_id: str | None) -> str:
        """The visit a vital-sign Observation folds into, else "" (it is a result then)."""
        if not _safe(lambda: mapping.vital_sign_code(observation)):
            return ""
        return self.visit_of(observation.get("encounter"), patient_id)

    def results_of(self, report: Resource, patient_id: str | None) -> list[str]:
        """The report's results that are the patient's lab results: its PDF goes with them."""
        found = []
        for reference in _list(report, "result"):
            observation_id = reference_id(reference, "Observation")
            spooled = observation_id and self._spool.get("Observation", observation_id)
            if (
                spooled
                and spooled.patient_id == patient_id
                and not self.visit_of_vital(spooled.body, patient_id)
            ):
                found.append(observation_id)
        return found

    def pdf_results_of(self, report: Resource, patient_id: str | None) -> list[str]:
        """The report's results that carry its PDF: those no earlier report (in id order) of
        the patient with a PDF names. A result holds one PDF: a report whose results all
        carry another's is a result of its own, so its PDF is not lost."""
        report_id = str(report.get("id"))
        owners = self._pdf_owners(patient_id)
        return [r for r in self.results_of(report, patient_id) if owners.get(r) == report_id]

    def _pdf_owners(self, patient_id: str | None) -> dict[str, str]:
        """Result id -> the id of the first of the patient's reports with a PDF naming it."""
        if patient_id in self._pdf_owner_cache:
            self._pdf_owner_cache.move_to_end(patient_id)
            return self._pdf_owner_cache[patient_id]
        owners: dict[str, str] = {}
        if patient_id is not None:
            for spooled in self._spool.records_of("DiagnosticReport", patient_id):
                if has_presented_form(spooled.body):
                    for result_id in self.results_of(spooled.body, patient_id):
                        owners.setdefault(result_id, spooled.record_id)
        self._pdf_owner_cache[patient_id] = owners
        if len(self._pdf_owner_cache) > _PDF_OWNER_CACHE_PATIENTS:
            self._pdf_owner_cache.popitem(last=False)
        return owners

    def is_chosen_ccda(self, document: Resource, patient_id: str | None) -> bool:
        """The patient's newest C-CDA is the EHR's C-CDA of the patient; older ones are
        exported as documents."""
        if patient_id is None:
            return False
        newest = max(
            (
                (str(spooled.body.get("date", "")), spooled.record_id)
                for spooled in self._spool.records_of("DocumentReference", patient_id)
                if document_role(spooled.body) is DocumentRole.CCDA
            ),
            default=None,
        )
        return newest is not None and newest[1] == str(document.get("id"))

    def lab_category(self, resource: Resource) -> Category:
        source = _safe(lambda: mapping.lab_source(mapping.performer(resource, self.name_of)))
        return (source or LabSource.MANUAL).category

    def name_of(self, reference: Any) -> str:
        """A reference's display, else the name of the Practitioner, Organization or Location
        it points at. Never fails: a missing name is an empty one."""
        if not isinstance(reference, Mapping):
            return ""
        shown = reference.get("display")
        if isinstance(shown, str) and shown.strip():
            return shown.strip()
        for kind in ("Practitioner", "Organization", "Location"):
            found = reference_id(reference, kind)
            spooled = found and self._spool.get(kind, found)
            if spooled:
                return _safe(lambda body=spooled.body: _name(body)) or ""
        return ""

    def _owned(self, kind: str, resource_id: str, patient_id: str | None) -> bool:
        spooled = self._spool.get(kind, resource_id)
        return spooled is not None and spooled.patient_id == patient_id


def _name(resource: Resource) -> str:
    name = resource.get("name")
    if isinstance(name, str):
        return name.strip()
    human = obj({"n": items(resource, "name")[0]}, "n") if items(resource, "name") else {}
    if isinstance(human.get("text"), str):
        return human["text"].strip()
    given = " ".join(g for g in human.get("given") or () if isinstance(g, str))
    family = human.get("family") if isinstance(human.get("family"), str) else ""
    suffix = ", ".join(s for s in human.get("suffix") or () if isinstance(s, str))
    return ", ".join(part for part in (f"{given} {family}".strip(), suffix) if part)


def _photo_count(patient: Resource) -> int:
    return _safe(lambda: mapping.photo_count(patient)) or 0


def _attachment_count(resource: Resource) -> int:
    return _safe(lambda: mapping.message_attachment_count(resource)) or 0


def _list(resource: Resource, key: str) -> list[Any]:
    value = resource.get(key)
    return value if isinstance(value, list) else []


def _safe(question: Any) -> Any:
    """A placement question about a malformed resource answers "no"; reading it then
    reports it failed, in the categories counted here."""
    try:
        return question()
    except (MappingError, TypeError, AttributeError):
        return None
