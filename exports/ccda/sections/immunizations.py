"""Immunizations Section (entries required) (V3): one Immunization Activity per vaccine
record, coded in CVX."""

from __future__ import annotations

from collections.abc import Sequence

from exports.sources.records import Immunization

from .. import vocabulary as voc
from ..elements import Element, add, add_code, add_template, add_text, add_time
from ..vocabulary import Code
from .common import RecordIds, SectionKind, add_table_section, add_text_reference, day

IMMUNIZATIONS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.2.1",
    "2015-08-01",
    Code("11369-6", voc.LOINC, "History of Immunization Narrative"),
    "Immunizations",
    "No information about immunizations.",
    row_prefix="immunization",
    headers=("Vaccine", "CVX", "Date", "Status", "Lot number", "Manufacturer", "Notes"),
    cell_ids={0: "vaccine"},
)


def add_immunizations_section(
    body: Element, immunizations: Sequence[Immunization], ids: RecordIds
) -> None:
    add_table_section(body, IMMUNIZATIONS, immunizations, _cells, _add_immunization_entry, ids)


def _cells(immunization: Immunization) -> tuple[str, ...]:
    return (
        immunization.vaccine,
        immunization.cvx_code,
        day(immunization.administered_on),
        immunization.status,
        immunization.lot_number,
        immunization.manufacturer,
        immunization.notes,
    )


def _add_immunization_entry(
    entry: Element, immunization: Immunization, row: str, ids: RecordIds
) -> None:
    given = voc.immunization_given(immunization.status)
    activity = add(
        entry,
        "substanceAdministration",
        {"classCode": "SBADM", "moodCode": "EVN", "negationInd": "false" if given else "true"},
    )
    add_template(activity, "2.16.840.1.113883.10.20.22.4.52", "2015-08-01")
    ids.add(activity, "immunization", immunization.id)
    add_text_reference(activity, row)
    add(activity, "statusCode", {"code": "completed"})
    add_time(activity, "effectiveTime", immunization.administered_on)

    product = add(add(activity, "consumable"), "manufacturedProduct", {"classCode": "MANU"})
    add_template(product, "2.16.840.1.113883.10.20.22.4.54", "2014-06-09")
    material = add(product, "manufacturedMaterial")
    vaccine = voc.source_code(immunization.cvx_code, voc.CVX, immunization.vaccine)
    # CVX's own code for a vaccine not known by code: receivers that require a vaccine code
    # (as FHIR's Immunization.vaccineCode is) keep the record, its name in originalText
    add_code(material, vaccine or voc.UNKNOWN_VACCINE, reference=f"{row}-vaccine")
    if immunization.lot_number.strip():
        add_text(material, "lotNumberText", immunization.lot_number.strip())
    if immunization.manufacturer.strip():
        add_text(add(product, "manufacturerOrganization"), "name", immunization.manufacturer)
