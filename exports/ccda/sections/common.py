"""What every section shares: the skeleton, the narrative table, entry ids and references."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar

from .. import vocabulary as voc
from ..elements import (
    Element,
    Prototype,
    add,
    add_code,
    add_id,
    add_template,
    add_text,
    prototype_root,
)
from ..narrative import NarrativeTable, add_paragraph
from ..vocabulary import Code

T = TypeVar("T")

ASSERTION = Code("ASSERTION", voc.ACT_CODE)
CONCERN = Code("CONC", voc.ACT_CLASS, "Concern")
_STATUS = Code("33999-4", voc.LOINC, "Status")


@dataclass(frozen=True, slots=True)
class RecordIds:
    """Mints entry ids: ``root`` is the OID the source's record ids are unique under, and
    each kind of record gets its own extension prefix so ids of different kinds never meet.
    """

    root: str

    def add(self, parent: Element, kind: str, source_id: str) -> Element:
        return add_id(parent, self.root, f"{kind}/{source_id}")


@dataclass(frozen=True, slots=True)
class SectionKind:
    """A section template, and the narrative table its records are listed in."""

    template_root: str
    template_extension: str
    code: Code
    title: str
    no_information: str
    row_prefix: str  # narrative ids: "<row_prefix>-<n>", "<row_prefix>-<n>-<cell name>"
    headers: tuple[str, ...]
    cell_ids: Mapping[int, str] = field(default_factory=dict)  # column -> cell name


def add_section(
    body: Element, kind: SectionKind, *, empty: bool
) -> tuple[Element, NarrativeTable | None]:
    """The section skeleton: templateIds, code, title and text, then a table, or (when
    ``empty``) nullFlavor="NI" and the "no information" paragraph."""
    section = _skeleton(
        kind.template_root,
        kind.template_extension,
        kind.code,
        kind.title,
        kind.no_information,
        empty=empty,
    ).add(body)[0]
    if empty:
        return section, None
    text = section[-1]  # the skeleton ends with the section's text
    return section, NarrativeTable(text, kind.row_prefix, kind.headers)


@lru_cache(maxsize=64)
def _skeleton(
    template_root: str,
    template_extension: str,
    code: Code,
    title: str,
    no_information: str,
    *,
    empty: bool,
) -> Prototype:
    """A section's component up to its (empty) text, or with the "no information"
    paragraph: made once per section kind and copied."""
    component = prototype_root("component")
    section = add(component, "section", {"nullFlavor": "NI"} if empty else None)
    add_template(section, template_root, template_extension)
    add_code(section, code)
    add_text(section, "title", title)
    text = add(section, "text")
    if empty:
        add_paragraph(text, no_information)
    return Prototype(component)


def add_table_section(
    body: Element,
    kind: SectionKind,
    records: Sequence[T],
    cells: Callable[[T], Sequence[str]],
    add_record_entry: Callable[[Element, T, str, RecordIds], None],
    ids: RecordIds,
) -> None:
    """A section with one table row and one entry per record, none left out."""
    section, table = add_section(body, kind, empty=not records)
    for record in records:
        assert table is not None  # there is a table whenever there are records
        row = table.add_row(cells(record), kind.cell_ids)
        add_record_entry(add_entry(section), record, row, ids)


def add_entry(section: Element) -> Element:
    return add(section, "entry", {"typeCode": "DRIV"})


def add_text_reference(parent: Element, reference: str) -> None:
    """``<text><reference value="#row"/></text>``: the entry's narrative."""
    add(add(parent, "text"), "reference", {"value": f"#{reference}"})


def add_clinical_status(
    parent: Element,
    status_text: str,
    *,
    template_root: str,
    relationship: Mapping[str, str],
    value_type: str,
    reference: str,
) -> None:
    """A Problem Status or Allergy Status observation (V2, 2019-06-20) saying what the source
    says: active, inactive or resolved. Nothing when the source gives no such status."""
    status = voc.clinical_status(status_text)
    if status is None:
        return
    observation = add(
        add(parent, "entryRelationship", relationship),
        "observation",
        {"classCode": "OBS", "moodCode": "EVN"},
    )
    add_template(observation, template_root, "2019-06-20")
    add_code(observation, _STATUS)
    add_text_reference(observation, reference)
    add(observation, "statusCode", {"code": "completed"})
    add_code(observation, status, tag="value", xsi_type=value_type)


def day(moment: date | datetime | None) -> str:
    """A date (or date and time) as the narrative shows it."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()


def pq_value(value: Decimal) -> str:
    """A PQ value: plain decimal notation, no trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
