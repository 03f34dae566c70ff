"""Medications Section (entries required) (V2): one Medication Activity per medication."""

from __future__ import annotations

from collections.abc import Sequence

from exports.sources.records import Medication

from .. import vocabulary as voc
from ..elements import XSI_TYPE, Element, add, add_code, add_interval, add_template
from ..vocabulary import Code, NullFlavor
from .common import RecordIds, SectionKind, add_table_section, add_text_reference, day, pq_value

MEDICATIONS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.1.1",
    "2014-06-09",
    Code("10160-0", voc.LOINC, "History of Medication use Narrative"),
    "Medications",
    "No information about medications.",
    row_prefix="medication",
    headers=(
        "Medication",
        "Dose",
        "Frequency",
        "Route",
        "Status",
        "Started",
        "Stopped",
        "Prescribed",
        "Prescriber",
        "Indication",
        "Notes",
    ),
    cell_ids={0: "name"},
)


def add_medications_section(
    body: Element, medications: Sequence[Medication], ids: RecordIds
) -> None:
    add_table_section(body, MEDICATIONS, medications, _cells, _add_medication_entry, ids)


def _cells(medication: Medication) -> tuple[str, ...]:
    dose = " ".join(part for part in (medication.dosage_quantity, medication.dosage_units) if part)
    return (
        medication.name,
        dose,
        medication.frequency,
        medication.route,
        medication.status,
        day(medication.date_started),
        day(medication.date_stopped),
        day(medication.date_prescribed),
        medication.prescriber,
        medication.indication,
        medication.notes,
    )


def _add_medication_entry(entry: Element, medication: Medication, row: str, ids: RecordIds) -> None:
    status = voc.medication_status(medication.status, stopped=medication.date_stopped is not None)
    activity = add(entry, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    add_template(activity, "2.16.840.1.113883.10.20.22.4.16", "2014-06-09")
    ids.add(activity, "medication", medication.id)
    add_text_reference(activity, row)
    add(activity, "statusCode", {"code": status})
    add_interval(
        activity,
        medication.date_started or medication.date_prescribed,
        medication.date_stopped,
        with_high=status in ("completed", "aborted"),
        xsi_type="IVL_TS",
    )
    _add_frequency(activity, medication)
    _add_dose_quantity(activity, medication)

    product = add(add(activity, "consumable"), "manufacturedProduct", {"classCode": "MANU"})
    add_template(product, "2.16.840.1.113883.10.20.22.4.23", "2014-06-09")
    material = add(product, "manufacturedMaterial")
    ndc = voc.source_code(medication.ndc, voc.NDC)
    drug = voc.source_code(medication.rxnorm, voc.RXNORM, medication.name) or NullFlavor.OTHER
    add_code(material, drug, reference=f"{row}-name", translations=(ndc,) if ndc else ())


def _add_frequency(activity: Element, medication: Medication) -> None:
    """How often, as a periodic interval (PIVL_TS, operator "A": it narrows the first
    effectiveTime), when the source's frequency text says it in a way we can read."""
    frequency = voc.dose_frequency(medication.frequency)
    if frequency is None:
        return
    attributes = {XSI_TYPE: "PIVL_TS", "operator": "A"}
    if frequency.institution_specified:
        attributes["institutionSpecified"] = "true"
    effective_time = add(activity, "effectiveTime", attributes)
    add(effective_time, "period", {"value": str(frequency.period), "unit": frequency.unit})


def _add_dose_quantity(activity: Element, medication: Medication) -> None:
    """doseQuantity is required: the amount with its unit (UCUM, or a counted dose form such
    as {tablet}), a bare number when the source gives no unit, or nullFlavor when the dose
    cannot be said so (the narrative has it as the source wrote it)."""
    quantity = voc.decimal_value(medication.dosage_quantity)
    unit = voc.dose_unit(medication.dosage_units)
    if quantity is not None and unit:
        add(activity, "doseQuantity", {"value": pq_value(quantity), "unit": unit})
    elif quantity is not None and not medication.dosage_units.strip():
        add(activity, "doseQuantity", {"value": pq_value(quantity)})
    else:
        add(activity, "doseQuantity", {"nullFlavor": NullFlavor.UNKNOWN.value})
