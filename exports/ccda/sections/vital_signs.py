"""Vital Signs Section (entries required) (V3): a Vital Signs Organizer per appointment that
measured anything, in the US customary units the source records, spelled in UCUM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from exports.sources.records import Appointment, Vitals

from .. import vocabulary as voc
from ..elements import (
    XSI_TYPE,
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
from .common import (
    RecordIds,
    SectionKind,
    add_entry,
    add_section,
    add_text_reference,
    day,
    pq_value,
)

VITAL_SIGNS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.4.1",
    "2015-08-01",
    Code("8716-3", voc.LOINC, "Vital signs"),
    "Vital Signs",
    "No information about vital signs.",
    row_prefix="vitals",
    headers=(
        "Date",
        "Height (in)",
        "Weight (lb)",
        "BMI (kg/m2)",
        "Blood pressure (mmHg)",
        "Pulse (/min)",
        "Temperature (F)",
        "Respiratory rate (/min)",
        "O2 saturation (%)",
        "Pain (0-10)",
    ),
)


@dataclass(frozen=True, slots=True)
class _VitalSign:
    field: str
    loinc: str
    display: str
    unit: str


_VITAL_SIGNS = (
    _VitalSign("height_in", "8302-2", "Body height", "[in_i]"),
    _VitalSign("weight_lb", "29463-7", "Body weight", "[lb_av]"),
    _VitalSign("bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2"),
    _VitalSign("systolic_mmhg", "8480-6", "Systolic blood pressure", "mm[Hg]"),
    _VitalSign("diastolic_mmhg", "8462-4", "Diastolic blood pressure", "mm[Hg]"),
    _VitalSign("pulse_bpm", "8867-4", "Heart rate", "/min"),
    _VitalSign("temperature_f", "8310-5", "Body temperature", "[degF]"),
    _VitalSign("respiratory_rate", "9279-1", "Respiratory rate", "/min"),
    _VitalSign(
        "oxygen_saturation",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
    ),
)
_VITAL_SIGNS_ORGANIZER = Code("46680005", voc.SNOMED_CT, "Vital signs")
_VITAL_SIGNS_PANEL = Code(
    "74728-7",
    voc.LOINC,
    "Vital signs, weight, height, head circumference, oximetry, BMI, and BSA panel",
)


def _measured(vitals: Vitals | None) -> list[tuple[_VitalSign, Decimal | int]]:
    if vitals is None:
        return []
    measured = []
    for sign in _VITAL_SIGNS:
        value = getattr(vitals, sign.field)
        # A NaN or infinite reading is no measurement; the narrative shows what was there.
        if value is not None and Decimal(value).is_finite():
            measured.append((sign, value))
    return measured


def add_vital_signs_section(
    body: Element, appointments: Sequence[Appointment], ids: RecordIds
) -> None:
    """One Vital Signs Organizer per appointment that measured anything. Pain scores have no
    place among the Vital Sign observations' codes: they are in the narrative only."""
    measured_at = [
        appointment
        for appointment in appointments
        if appointment.vitals is not None
        and (_measured(appointment.vitals) or appointment.vitals.pain is not None)
    ]
    section, table = add_section(body, VITAL_SIGNS, empty=not measured_at)
    for appointment in measured_at:
        assert table is not None and appointment.vitals is not None
        vitals = appointment.vitals
        blood_pressure = (
            f"{_text(vitals.systolic_mmhg)}/{_text(vitals.diastolic_mmhg)}"
            if vitals.systolic_mmhg is not None or vitals.diastolic_mmhg is not None
            else ""
        )
        row = table.add_row(
            (
                day(appointment.scheduled_time),
                _text(vitals.height_in),
                _text(vitals.weight_lb),
                _text(vitals.bmi),
                blood_pressure,
                _text(vitals.pulse_bpm),
                _text(vitals.temperature_f),
                _text(vitals.respiratory_rate),
                _text(vitals.oxygen_saturation),
                _text(vitals.pain),
            )
        )
        measured = _measured(vitals)
        if measured:
            _add_vital_signs_organizer(add_entry(section), appointment, measured, row, ids)


def _text(value: Decimal | int | None) -> str:
    return "" if value is None else str(value)


def _add_vital_signs_organizer(
    entry: Element,
    appointment: Appointment,
    measured: list[tuple[_VitalSign, Decimal | int]],
    row: str,
    ids: RecordIds,
) -> None:
    time = timestamp(appointment.scheduled_time)
    organizer = _vital_signs_organizer(ids.root).add(entry, id=appointment.id, time=time)
    for sign, value in measured:
        _vital_sign_observation(sign, ids.root).add(
            organizer,
            id=appointment.id,
            row=row,
            time=time,
            value=pq_value(Decimal(value)),
        )


# The organizer and its observations are made once (per id root, and sign) and copied (see
# ``Prototype``): appointments differ in their ids, narrative rows, times and values only.


@lru_cache(maxsize=64)
def _vital_signs_organizer(id_root: str) -> Prototype:
    """A Vital Signs Organizer without its observations."""
    organizer = prototype_root("organizer", {"classCode": "CLUSTER", "moodCode": "EVN"})
    add_template(organizer, "2.16.840.1.113883.10.20.22.4.26", "2015-08-01")
    RecordIds(id_root).add(organizer, "vital-signs", slot("id"))
    add_code(organizer, _VITAL_SIGNS_ORGANIZER, translations=(_VITAL_SIGNS_PANEL,))
    add(organizer, "statusCode", {"code": "completed"})
    add_time(organizer, "effectiveTime", slot("time"))
    return Prototype(organizer)


@lru_cache(maxsize=64)
def _vital_sign_observation(sign: _VitalSign, id_root: str) -> Prototype:
    """A Vital Sign Observation of one sign, in its organizer's component."""
    component = prototype_root("component")
    observation = add(component, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(observation, "2.16.840.1.113883.10.20.22.4.27", "2014-06-09")
    RecordIds(id_root).add(observation, f"vital-sign/{sign.loinc}", slot("id"))
    add_code(observation, Code(sign.loinc, voc.LOINC, sign.display))
    add_text_reference(observation, slot("row"))
    add(observation, "statusCode", {"code": "completed"})
    add(observation, "effectiveTime", {"value": slot("time")})
    add(observation, "value", {XSI_TYPE: "PQ", "value": slot("value"), "unit": sign.unit})
    return Prototype(component)
