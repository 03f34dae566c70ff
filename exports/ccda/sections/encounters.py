"""Encounters Section (entries required) (V3): an Encounter Activity per appointment that
took place (cancelled, missed and future ones did not), with its ICD-10-CM diagnoses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from functools import lru_cache

from exports.sources.records import Appointment

from .. import vocabulary as voc
from ..elements import (
    Element,
    Prototype,
    add,
    add_code,
    add_interval,
    add_template,
    prototype_root,
    slot,
    timestamp,
)
from ..vocabulary import Code, NullFlavor
from .common import RecordIds, SectionKind, add_table_section, add_text_reference, day
from .problems import DIAGNOSIS_TYPE, add_problem_observation

ENCOUNTERS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.22.1",
    "2015-08-01",
    Code("46240-8", voc.LOINC, "History of Hospitalizations+Outpatient visits Narrative"),
    "Encounters",
    "No information about encounters.",
    row_prefix="encounter",
    headers=("Date", "Minutes", "Reason", "Provider", "Office", "Status", "Diagnoses", "Notes"),
    cell_ids={2: "reason", 6: "diagnoses"},
)
_NOT_HELD = {"cancelled", "canceled", "no show", "noshow", "rescheduled", "deleted"}
_DIAGNOSIS = Code("29308-4", voc.LOINC, "Diagnosis")


def encounters_held(appointments: Iterable[Appointment], as_of: date) -> list[Appointment]:
    """Appointments that became encounters: on or before ``as_of`` and not called off."""
    return [
        appointment
        for appointment in appointments
        if appointment.scheduled_time.date() <= as_of
        and voc.normalize(appointment.status) not in _NOT_HELD
    ]


def add_encounters_section(
    body: Element, appointments: Sequence[Appointment], ids: RecordIds, as_of: date
) -> None:
    held = encounters_held(appointments, as_of)
    add_table_section(body, ENCOUNTERS, held, _cells, _add_encounter_entry, ids)


def _cells(appointment: Appointment) -> tuple[str, ...]:
    return (
        day(appointment.scheduled_time),
        str(appointment.duration_minutes) if appointment.duration_minutes else "",
        appointment.reason,
        appointment.provider,
        appointment.office,
        appointment.status,
        ", ".join(appointment.icd10_codes),
        appointment.notes,
    )


def _add_encounter_entry(
    entry: Element, appointment: Appointment, row: str, ids: RecordIds
) -> None:
    has_end = appointment.duration_minutes > 0
    start = appointment.scheduled_time
    encounter = _encounter(ids.root, has_end).add(
        entry,
        id=appointment.id,
        row=row,
        start=timestamp(start),
        end=timestamp(start + timedelta(minutes=appointment.duration_minutes)) if has_end else "",
    )
    for icd10_code in dict.fromkeys(
        code.strip() for code in appointment.icd10_codes if code.strip()
    ):
        coded = voc.source_code(icd10_code, voc.ICD10_CM) is not None
        _diagnosis(ids.root, coded).add(
            encounter,
            id=f"{appointment.id}/{icd10_code}",
            row=f"{row}-diagnoses",
            onset=timestamp(start),
            icd10=icd10_code,
        )


# An encounter and its diagnoses are made once per id root and shape, then copied (see
# ``Prototype``): appointments differ in ids, narrative rows, times and codes only.


@lru_cache(maxsize=64)
def _encounter(id_root: str, has_end: bool) -> Prototype:
    """An Encounter Activity, without its diagnoses; ``has_end``: its duration is known."""
    encounter = prototype_root("encounter", {"classCode": "ENC", "moodCode": "EVN"})
    add_template(encounter, "2.16.840.1.113883.10.20.22.4.49", "2015-08-01")
    RecordIds(id_root).add(encounter, "encounter", slot("id"))
    # The source has no CPT visit type; the reason for the visit is what it knows.
    add_code(encounter, NullFlavor.UNKNOWN, reference=f"{slot('row')}-reason")
    add_text_reference(encounter, slot("row"))
    add_interval(encounter, slot("start"), slot("end") if has_end else None)
    return Prototype(encounter)


@lru_cache(maxsize=64)
def _diagnosis(id_root: str, coded: bool) -> Prototype:
    """An Encounter Diagnosis act and its Problem Observation; ``coded``: the ICD-10-CM
    code is one token (a code with spaces in it stays in the narrative only)."""
    relationship = prototype_root("entryRelationship", {"typeCode": "SUBJ"})
    diagnosis = add(relationship, "act", {"classCode": "ACT", "moodCode": "EVN"})
    add_template(diagnosis, "2.16.840.1.113883.10.20.22.4.80", "2015-08-01")
    add_code(diagnosis, _DIAGNOSIS)
    add_problem_observation(
        add(diagnosis, "entryRelationship", {"typeCode": "SUBJ"}),
        RecordIds(id_root),
        ("encounter-diagnosis", slot("id")),
        problem_type=DIAGNOSIS_TYPE,
        onset=slot("onset"),
        resolved=None,
        ended=False,
        snomed_code="",
        icd10_code=slot("icd10") if coded else "",
        text_reference=slot("row"),
        value_reference=slot("row"),
    )
    return Prototype(relationship)
