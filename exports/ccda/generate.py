"""``build_ccd``: one patient's record as a C-CDA R2.1 Continuity of Care Document.

The output depends only on the arguments (no clock, no randomness), so a re-run of an export
writes byte-identical files. Ids in the document are ``root=record_id_root`` with an extension
``"<kind>/<source id>"`` (``patient/123``, ``medication/456``, ...), so every entry can be
traced back to the source record it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from exports.sources.records import Address, Demographics, PatientRecord, PatientStatus

from . import sections
from . import vocabulary as voc
from .elements import (
    NSMAP,
    V3,
    Element,
    add,
    add_address,
    add_code,
    add_id,
    add_interval,
    add_sdtc,
    add_telecoms,
    add_template,
    add_text,
    add_time,
    telecom_value,
    timestamp,
)
from .vocabulary import Code, NullFlavor

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")

US_REALM_HEADER = "2.16.840.1.113883.10.20.22.1.1"
CCD_TEMPLATE = "2.16.840.1.113883.10.20.22.1.2"
_CCD_CODE = Code("34133-9", voc.LOINC, "Summarization of Episode Note")
_NORMAL_CONFIDENTIALITY = Code("N", voc.CONFIDENTIALITY, "normal")


@dataclass(frozen=True, slots=True)
class Organization:
    """The practice (custodian of the record, and the organisation the author speaks for)."""

    name: str
    id_root: str  # an OID or UUID naming the organisation; with id_extension, e.g. an NPI
    id_extension: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)


@dataclass(frozen=True, slots=True)
class AuthoringSystem:
    """The software that writes the document: C-CDA's authoring device, since no clinician
    signs an export."""

    software_name: str
    manufacturer_model_name: str
    id_root: str  # an OID or UUID naming this system
    id_extension: str = ""


class GeneratedCcd(bytes):
    """A CCD's UTF-8 bytes, with the tree they were serialised from: the proof checks that
    tree (``validate_ccda``) rather than parsing the bytes just made. Serialisation is a
    function of the tree, so proving the tree proves the bytes; ``tests/ccda`` shows both
    paths agree on every verdict and problem."""

    tree: etree._ElementTree

    @classmethod
    def serialise(cls, document: Element) -> GeneratedCcd:
        generated = cls(
            etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        )
        generated.tree = document.getroottree()
        return generated


def build_ccd(
    record: PatientRecord,
    *,
    custodian: Organization,
    author: AuthoringSystem,
    record_id_root: str,
    document_id: str,
    effective_time: datetime,
) -> GeneratedCcd:
    """The patient's CCD as UTF-8 XML (with its tree, for the proof).

    ``record_id_root``: OID (or UUID) under which the source's record ids are unique; every
    id in the document is minted under it. ``document_id``: unique among this root's
    documents (e.g. the export request and patient). ``effective_time``: when the document
    was made, timezone-aware; appointments after it are not encounters yet.

    Raises ``ValueError`` (naming the argument, never patient data) for a bad root or a
    naive ``effective_time``. Patient data never makes it fail: unknown or malformed values
    become nullFlavors, and free text is kept (minus characters XML cannot carry).
    """
    for name, root in (
        ("custodian.id_root", custodian.id_root),
        ("author.id_root", author.id_root),
        ("record_id_root", record_id_root),
    ):
        if not (_OID.match(root) or _UUID.match(root)):
            raise ValueError(f"{name} must be an OID or a UUID")
    if effective_time.utcoffset() is None:
        raise ValueError("effective_time must be timezone-aware")

    ids = sections.RecordIds(record_id_root)
    document = etree.Element(f"{{{V3}}}ClinicalDocument", nsmap=NSMAP)
    add(document, "realmCode", {"code": "US"})
    add(document, "typeId", {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"})
    add_template(document, US_REALM_HEADER, "2015-08-01")
    add_template(document, CCD_TEMPLATE, "2015-08-01")
    ids.add(document, "document", document_id)
    add_code(document, _CCD_CODE)
    add_text(document, "title", "Continuity of Care Document")
    add_time(document, "effectiveTime", effective_time)
    add_code(document, _NORMAL_CONFIDENTIALITY, tag="confidentialityCode")
    add(document, "languageCode", {"code": "en-US"})

    _add_record_target(document, record.demographics, ids)
    _add_author(document, author, custodian, effective_time)
    _add_custodian(document, custodian)
    _add_service_event(document, record, effective_time)

    body = add(add(document, "component"), "structuredBody")
    sections.add_allergies_section(body, record.allergies, ids)
    sections.add_medications_section(body, record.medications, ids)
    sections.add_problems_section(body, record.problems, ids)
    sections.add_immunizations_section(body, record.immunizations, ids)
    sections.add_results_section(body, record.lab_results, ids)
    sections.add_vital_signs_section(body, record.appointments, ids)
    sections.add_social_history_section(body, record.appointments, ids)
    sections.add_encounters_section(body, record.appointments, ids, effective_time.date())
    return GeneratedCcd.serialise(document)


def _add_record_target(document: Element, patient: Demographics, ids: sections.RecordIds) -> None:
    role = add(add(document, "recordTarget"), "patientRole")
    ids.add(role, "patient", patient.id)
    if patient.chart_id.strip():
        ids.add(role, "chart", patient.chart_id)
    add_address(role, patient.address, use="HP")
    telecoms = [
        (use, value)
        for use, value in (
            ("HP", telecom_value(phone=patient.home_phone)),
            ("MC", telecom_value(phone=patient.cell_phone)),
            ("HP", telecom_value(email=patient.email)),
        )
        if value
    ]
    add_telecoms(role, telecoms)

    person = add(role, "patient")
    _add_person_name(person, patient)
    add_code(
        person,
        voc.gender_code(patient.gender),
        tag="administrativeGenderCode",
    )
    add_time(person, "birthTime", patient.date_of_birth)
    if patient.status is PatientStatus.DECEASED or patient.date_of_death is not None:
        add_sdtc(person, "deceasedInd", {"value": "true"})
        if patient.date_of_death is not None:
            add_sdtc(person, "deceasedTime", {"value": timestamp(patient.date_of_death)})
        else:
            add_sdtc(person, "deceasedTime", {"nullFlavor": NullFlavor.UNKNOWN.value})
    else:
        add_sdtc(person, "deceasedInd", {"value": "false"})
    add_code(person, voc.race_code(patient.race), tag="raceCode")
    add_code(person, voc.ethnicity_code(patient.ethnicity), tag="ethnicGroupCode")
    language = voc.language_tag(patient.preferred_language)
    if language:
        communication = add(person, "languageCommunication")
        add(communication, "languageCode", {"code": language})
        add(communication, "preferenceInd", {"value": "true"})


def _add_person_name(person: Element, patient: Demographics) -> None:
    """US Realm Person Name: legal name (given, middle, family), and the nickname apart."""
    name = add(person, "name", {"use": "L"})
    for given in (patient.first_name, patient.middle_name):
        if given.strip():
            add_text(name, "given", given.strip())
    if not patient.first_name.strip():
        add(name, "given", {"nullFlavor": NullFlavor.UNKNOWN.value})
    if patient.last_name.strip():
        add_text(name, "family", patient.last_name.strip())
    else:
        add(name, "family", {"nullFlavor": NullFlavor.UNKNOWN.value})
    if patient.nick_name.strip():
        nickname = add(person, "name", {"use": "P"})
        add_text(nickname, "given", patient.nick_name.strip())
        if patient.last_name.strip():
            add_text(nickname, "family", patient.last_name.strip())
        else:
            add(nickname, "family", {"nullFlavor": NullFlavor.UNKNOWN.value})


def _organization_telecoms(organization: Organization) -> list[tuple[str, str]]:
    value = telecom_value(phone=organization.phone)
    return [("WP", value)] if value else []


def _add_organization(parent: Element, tag: str, organization: Organization) -> None:
    element = add(parent, tag)
    add_id(element, organization.id_root, organization.id_extension or None)
    add_text(element, "name", organization.name)
    add_telecoms(element, _organization_telecoms(organization)[:1])
    add_address(element, organization.address, use="WP")


def _add_author(
    document: Element, author: AuthoringSystem, organization: Organization, time: datetime
) -> None:
    element = add(document, "author")
    add_time(element, "time", time)
    assigned = add(element, "assignedAuthor")
    add_id(assigned, author.id_root, author.id_extension or None)
    add_address(assigned, organization.address, use="WP")
    add_telecoms(assigned, _organization_telecoms(organization))
    device = add(assigned, "assignedAuthoringDevice")
    add_text(device, "manufacturerModelName", author.manufacturer_model_name)
    add_text(device, "softwareName", author.software_name)
    _add_organization(assigned, "representedOrganization", organization)


def _add_custodian(document: Element, organization: Organization) -> None:
    assigned = add(add(document, "custodian"), "assignedCustodian")
    _add_organization(assigned, "representedCustodianOrganization", organization)


def _add_service_event(document: Element, record: PatientRecord, effective_time: datetime) -> None:
    """The period of care the document summarises: from the earliest clinical date in the
    record (unknown when there is none) to the document's time."""
    event = add(
        add(document, "documentationOf", {"typeCode": "DOC"}),
        "serviceEvent",
        {"classCode": "PCPR"},
    )
    add_interval(event, _earliest_clinical_date(record, effective_time.date()), effective_time)


def _earliest_clinical_date(record: PatientRecord, as_of: date) -> date | None:
    dates: list[date] = []
    for medication in record.medications:
        dates += [d for d in (medication.date_started, medication.date_prescribed) if d]
    for allergy in record.allergies:
        dates += [allergy.onset_date] if allergy.onset_date else []
    for problem in record.problems:
        dates += [d for d in (problem.date_onset, problem.date_diagnosis) if d]
    dates += [r.date_performed for r in record.lab_results if r.date_performed]
    dates += [i.administered_on for i in record.immunizations if i.administered_on]
    dates += [a.scheduled_time.date() for a in sections.encounters_held(record.appointments, as_of)]
    return min(*dates, as_of) if dates else None
