"""Whether a C-CDA is about a given patient: its recordTarget against the patient record.

A source's own C-CDA is filed under the patient it was asked for; an EHR that answers with
someone else's document (a merged chart, a cached response, a wrong id) must not put that
person's record in this patient's folder. The document's patient is compared field by field
with the record: legal name (first given name and family name), birth date, administrative
sex, and the patient's id where the document gives ids. What the record does not know is not
compared; what the record knows and the document leaves out cannot be confirmed, and counts
as a difference. The outcome names fields only, never their values (it is shown and logged).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from lxml import etree

from exports.sources.records import Demographics

from . import vocabulary as voc
from .elements import V3
from .vocabulary import Code

_NS = {"cda": V3}
_SSN_ROOT = "2.16.840.1.113883.4.1"  # a Social Security number is no record id


@dataclass(frozen=True, slots=True)
class PatientComparison:
    """What of the document's patient differs from the record, or is missing from it."""

    named: bool  # the document has a recordTarget patient at all
    differs: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def is_same_patient(self) -> bool:
        return self.named and not self.differs and not self.missing

    def reason(self) -> str:
        if not self.named:
            return "it does not say which patient it is about"
        parts = [f"{field} differs" for field in self.differs]
        parts += [f"{field} missing" for field in self.missing]
        return f"it is not about this patient ({', '.join(parts)})"


def compare_patient(tree: etree._ElementTree, patient: Demographics) -> PatientComparison:
    """Compare the (first) recordTarget of a parsed C-CDA with ``patient``."""
    role = tree.find("cda:recordTarget/cda:patientRole", _NS)
    person = role.find("cda:patient", _NS) if role is not None else None
    if person is None:
        return PatientComparison(named=False)
    differs: list[str] = []
    missing: list[str] = []
    for field, outcome in (
        ("name", _compare_name(person, patient)),
        ("birth date", _compare_birth_date(person, patient)),
        ("sex", _compare_sex(person, patient)),
        ("id", _compare_ids(role, patient)),
    ):
        if outcome is False:
            differs.append(field)
        elif outcome is None:
            missing.append(field)
    return PatientComparison(named=True, differs=tuple(differs), missing=tuple(missing))


# Each comparison answers True (same, or nothing to compare), False (differs) or None (the
# record knows it, the document does not say).


def _key(text: str | None) -> str:
    """Names compared as people read them: case, accents, spacing and punctuation aside."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed.casefold() if c.isalnum())


def _compare_name(person: etree._Element, patient: Demographics) -> bool | None:
    first, last = _key(patient.first_name), _key(patient.last_name)
    if not (first or last):
        return True
    names = person.findall("cda:name", _NS)
    seen_any = False
    for name in names:
        givens = [_key(given.text) for given in name.findall("cda:given", _NS)]
        family = _key("".join(part.text or "" for part in name.findall("cda:family", _NS)))
        if not (any(givens) or family):
            continue
        seen_any = True
        given_ok = not first or first in (givens[0] if givens else "", "".join(givens))
        if given_ok and (not last or family == last):
            return True
    return False if seen_any else None


def _compare_birth_date(person: etree._Element, patient: Demographics) -> bool | None:
    if patient.date_of_birth is None:
        return True
    element = person.find("cda:birthTime", _NS)
    value = element.get("value", "") if element is not None else ""
    if len(value) < 8:  # absent, unknown, or only a year or month: it cannot confirm the day
        return None
    return value[:8] == patient.date_of_birth.strftime("%Y%m%d")


def _compare_sex(person: etree._Element, patient: Demographics) -> bool | None:
    ours = voc.gender_code(patient.gender)
    if not isinstance(ours, Code):
        return True
    element = person.find("cda:administrativeGenderCode", _NS)
    theirs = element.get("code", "") if element is not None else ""
    if theirs not in ("M", "F"):
        return None
    return theirs == ours.code


def _compare_ids(role: etree._Element, patient: Demographics) -> bool:
    """Where the document gives the patient ids, one of them must be the record's id or
    chart id; a document without ids leaves the other fields to decide."""
    given = {
        element.get("extension", "").strip()
        for element in role.findall("cda:id", _NS)
        if element.get("root") != _SSN_ROOT and element.get("extension", "").strip()
    }
    if not given:
        return True
    ours = {patient.id.strip(), patient.chart_id.strip()} - {""}
    return bool(given & ours)
