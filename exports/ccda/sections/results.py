"""Results Section (entries required) (V3): a Result Organizer per lab order, holding a
Result Observation per result: manual, Quest, LabCorp and integration results alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from exports.sources.lab_ranges import parse_range
from exports.sources.records import LabResult

from .. import vocabulary as voc
from ..elements import (
    XSI_TYPE,
    Element,
    add,
    add_code,
    add_interval,
    add_template,
    add_text,
    add_time,
)
from ..vocabulary import Code, NullFlavor
from .common import (
    RecordIds,
    SectionKind,
    add_entry,
    add_section,
    add_text_reference,
    day,
    pq_value,
)

RESULTS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.3.1",
    "2015-08-01",
    Code("30954-2", voc.LOINC, "Relevant diagnostic tests/laboratory data Narrative"),
    "Results",
    "No information about results.",
    row_prefix="result",
    headers=(
        "Test",
        "LOINC",
        "Result",
        "Units",
        "Reference range",
        "Flag",
        "Status",
        "Date",
        "Lab",
        "Order",
        "Ordering provider",
        "Comments",
    ),
    cell_ids={0: "name", 2: "value", 4: "range"},
)


def add_results_section(body: Element, lab_results: Sequence[LabResult], ids: RecordIds) -> None:
    """One Result Organizer per lab order (results without an order stand alone), in the
    order the source gave them."""
    section, table = add_section(body, RESULTS, empty=not lab_results)
    for order in _group_by_order(lab_results):
        assert table is not None  # there is a table whenever there are results
        rows = [table.add_row(_cells(result), RESULTS.cell_ids) for result in order]
        _add_result_organizer(add_entry(section), order, rows, ids)


def _cells(result: LabResult) -> tuple[str, ...]:
    return (
        result.test_name,
        result.loinc_code,
        result.value,
        result.units,
        result.normal_range,
        result.abnormal_flag,
        result.status,
        day(result.date_performed),
        result.vendor or result.source.value,
        result.order_id,
        result.ordering_provider,
        result.comments,
    )


def _group_by_order(lab_results: Iterable[LabResult]) -> list[list[LabResult]]:
    orders: dict[str, list[LabResult]] = {}
    for result in lab_results:
        key = f"order/{result.order_id}" if result.order_id.strip() else f"result/{result.id}"
        orders.setdefault(key, []).append(result)
    return list(orders.values())


def _result_code(result: LabResult) -> Code | NullFlavor:
    return voc.source_code(result.loinc_code, voc.LOINC) or NullFlavor.OTHER


def _add_result_organizer(
    entry: Element, order: list[LabResult], rows: list[str], ids: RecordIds
) -> None:
    statuses = {voc.result_status(result.status) for result in order}
    organizer = add(entry, "organizer", {"classCode": "BATTERY", "moodCode": "EVN"})
    add_template(organizer, "2.16.840.1.113883.10.20.22.4.1", "2015-08-01")
    first = order[0]
    if first.order_id.strip():
        ids.add(organizer, "lab-order", first.order_id)
    else:
        ids.add(organizer, "lab-panel", first.id)
    if len(order) == 1:
        add_code(organizer, _result_code(first), reference=f"{rows[0]}-name")
    else:
        add_code(organizer, NullFlavor.UNKNOWN)
    add(organizer, "statusCode", {"code": voc.results_status(statuses)})
    performed = sorted(r.date_performed for r in order if r.date_performed is not None)
    if performed:
        add_interval(organizer, performed[0], performed[-1])
    for result, row in zip(order, rows, strict=True):
        _add_result_observation(add(organizer, "component"), result, row, ids)


def _add_result_observation(
    component: Element, result: LabResult, row: str, ids: RecordIds
) -> None:
    observation = add(component, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(observation, "2.16.840.1.113883.10.20.22.4.2", "2015-08-01")
    ids.add(observation, "lab-result", result.id)
    add_code(observation, _result_code(result), reference=f"{row}-name")
    add_text_reference(observation, row)
    add(observation, "statusCode", {"code": voc.result_status(result.status)})
    add_time(observation, "effectiveTime", result.date_performed)
    _add_result_value(observation, result)
    interpretation = voc.interpretation_code(result.abnormal_flag)
    if interpretation:
        add_code(
            observation,
            Code(interpretation, voc.OBSERVATION_INTERPRETATION),
            tag="interpretationCode",
        )
    if result.normal_range.strip():
        _add_reference_range(observation, result, row)


def _add_result_value(observation: Element, result: LabResult) -> None:
    """A number with a UCUM unit is a PQ; anything else (text, "<5", a lab's own unit
    spelling) is kept as the source wrote it, as ST; no value at all is nullFlavor."""
    quantity = voc.decimal_value(result.value)
    unit = voc.ucum_unit(result.units) if result.units.strip() else "1"
    if quantity is not None and unit:
        add(observation, "value", {XSI_TYPE: "PQ", "value": pq_value(quantity), "unit": unit})
    elif result.value.strip():
        text = " ".join(part for part in (result.value.strip(), result.units.strip()) if part)
        add_text(observation, "value", text).set(XSI_TYPE, "ST")
    else:
        add(observation, "value", {XSI_TYPE: "ST", "nullFlavor": NullFlavor.UNKNOWN.value})


def _add_reference_range(observation: Element, result: LabResult, row: str) -> None:
    """The normal range as text, and as low/high quantities when it reads "a-b [units]" in
    a unit UCUM knows; otherwise as the lab wrote it."""
    observation_range = add(add(observation, "referenceRange"), "observationRange")
    add(add(observation_range, "text"), "reference", {"value": f"#{row}-range"})
    bounds = parse_range(result.normal_range)
    units = (bounds.units if bounds else "") or result.units
    unit = voc.ucum_unit(units) if units.strip() else "1"
    if bounds and unit:
        value = add(observation_range, "value", {XSI_TYPE: "IVL_PQ"})
        for tag, bound in (("low", bounds.low), ("high", bounds.high)):
            add(value, tag, {"value": pq_value(bound), "unit": unit})
    else:
        add_text(observation_range, "value", result.normal_range.strip()).set(XSI_TYPE, "ST")
