"""Social History Section (V3): the smoking status recorded with each appointment's vitals."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from exports.sources.records import Appointment

from .. import vocabulary as voc
from ..elements import (
    Element,
    Prototype,
    add,
    add_code,
    add_template,
    add_time,
    prototype_root,
    slot,
    timestamp,
)
from ..vocabulary import Code
from .common import RecordIds, SectionKind, add_entry, add_section, add_text_reference, day

SOCIAL_HISTORY = SectionKind(
    "2.16.840.1.113883.10.20.22.2.17",
    "2015-08-01",
    Code("29762-2", voc.LOINC, "Social history Narrative"),
    "Social History",
    "No information about social history.",
    row_prefix="social",
    headers=("Date", "Smoking status"),
    cell_ids={1: "status"},
)
_SMOKING_STATUS = Code("72166-2", voc.LOINC, "Tobacco smoking status")


def add_social_history_section(
    body: Element, appointments: Sequence[Appointment], ids: RecordIds
) -> None:
    """A Smoking Status observation per recorded status that maps to the value set; a status
    written in other words is shown in the narrative only (the template forbids nullFlavor)."""
    recorded = [
        appointment
        for appointment in appointments
        if appointment.vitals is not None and appointment.vitals.smoking_status.strip()
    ]
    section, table = add_section(body, SOCIAL_HISTORY, empty=not recorded)
    for appointment in recorded:
        assert table is not None and appointment.vitals is not None
        status_text = appointment.vitals.smoking_status
        row = table.add_row((day(appointment.scheduled_time), status_text), SOCIAL_HISTORY.cell_ids)
        status = voc.smoking_status_code(status_text)
        if not isinstance(status, Code):
            continue
        _smoking_status(ids.root, status).add(
            add_entry(section),
            id=appointment.id,
            row=row,
            time=timestamp(appointment.scheduled_time),
        )


@lru_cache(maxsize=64)
def _smoking_status(id_root: str, status: Code) -> Prototype:
    """A Smoking Status observation of one status, made once and copied (see ``Prototype``):
    appointments differ in their id, narrative row and time only."""
    observation = prototype_root("observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(observation, "2.16.840.1.113883.10.20.22.4.78", "2014-06-09")
    RecordIds(id_root).add(observation, "smoking-status", slot("id"))
    add_code(observation, _SMOKING_STATUS)
    add_text_reference(observation, slot("row"))
    add(observation, "statusCode", {"code": "completed"})
    add_time(observation, "effectiveTime", slot("time"))
    add_code(observation, status, tag="value", xsi_type="CD", reference=f"{slot('row')}-status")
    return Prototype(observation)
