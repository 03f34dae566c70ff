"""Small tables of real clinical codes with their display names, for the demo practice.

ICD-10-CM (with the matching SNOMED CT concept for problem lists), RxNorm (medications and
drug allergens), SNOMED CT (non-drug allergens, allergic reactions, smoking status), LOINC
(lab tests and vital signs) and CVX (vaccines, listed on the demo's immunization records).
The rows live in ``data/*.csv``; every display name is the code system's own, because C-CDA
documents carry them next to the codes.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources


class CodeSystem(enum.StrEnum):
    ICD10CM = "ICD-10-CM"
    SNOMED = "SNOMED CT"
    RXNORM = "RxNorm"
    LOINC = "LOINC"
    CVX = "CVX"

    @property
    def oid(self) -> str:
        """The HL7 code system OID, as C-CDA ``codeSystem`` attributes want it."""
        return _OIDS[self]


_OIDS = {
    CodeSystem.ICD10CM: "2.16.840.1.113883.6.90",
    CodeSystem.SNOMED: "2.16.840.1.113883.6.96",
    CodeSystem.RXNORM: "2.16.840.1.113883.6.88",
    CodeSystem.LOINC: "2.16.840.1.113883.6.1",
    CodeSystem.CVX: "2.16.840.1.113883.12.292",
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A diagnosis: its ICD-10-CM code and the SNOMED CT concept a problem list records."""

    icd10_code: str
    icd10_display: str
    snomed_code: str
    snomed_display: str
    chronic: bool  # chronic conditions go on problem lists; acute ones only on visits


@dataclass(frozen=True, slots=True)
class Drug:
    """An RxNorm clinical drug with a usual dose."""

    rxnorm: str
    name: str
    dose_quantity: str
    dose_units: str
    route: str
    frequency: str


@dataclass(frozen=True, slots=True)
class Allergen:
    """What a patient is allergic to: a drug ingredient (RxNorm) or a substance (SNOMED CT)."""

    system: CodeSystem
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class CodedConcept:
    """A SNOMED CT concept: an allergic reaction or a smoking status."""

    snomed_code: str
    display: str


@dataclass(frozen=True, slots=True)
class Vaccine:
    """A vaccine by its CDC CVX code (the code and the short description CDC gives it)."""

    cvx: str
    display: str


@dataclass(frozen=True, slots=True)
class LabTest:
    """A LOINC-coded lab test with its units and reference range."""

    loinc: str
    display: str
    units: str
    low: Decimal
    high: Decimal
    decimals: int  # how results are reported: 0 -> "93", 2 -> "0.84"

    @property
    def normal_range(self) -> str:
        return f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class VitalSign:
    """The LOINC observation for one ``records.Vitals`` field, with its UCUM unit."""

    field: str
    loinc: str
    display: str
    units: str


def _rows(name: str) -> Iterator[dict[str, str]]:
    with resources.files(__package__).joinpath("data", name).open(encoding="utf-8") as file:
        yield from csv.DictReader(file)


@cache
def conditions() -> tuple[Condition, ...]:
    return tuple(
        Condition(
            icd10_code=row["icd10_code"],
            icd10_display=row["icd10_display"],
            snomed_code=row["snomed_code"],
            snomed_display=row["snomed_display"],
            chronic=row["chronic"] == "1",
        )
        for row in _rows("conditions.csv")
    )


@cache
def chronic_conditions() -> tuple[Condition, ...]:
    return tuple(condition for condition in conditions() if condition.chronic)


@cache
def drugs() -> tuple[Drug, ...]:
    return tuple(Drug(**row) for row in _rows("medications.csv"))


@cache
def allergens() -> tuple[Allergen, ...]:
    systems = {"drug": CodeSystem.RXNORM, "substance": CodeSystem.SNOMED}
    return tuple(
        Allergen(systems[row["kind"]], row["code"], row["display"])
        for row in _rows("allergens.csv")
    )


@cache
def reactions() -> tuple[CodedConcept, ...]:
    return tuple(CodedConcept(**row) for row in _rows("reactions.csv"))


@cache
def smoking_statuses() -> tuple[CodedConcept, ...]:
    return tuple(CodedConcept(**row) for row in _rows("smoking_statuses.csv"))


@cache
def lab_tests() -> tuple[LabTest, ...]:
    return tuple(
        LabTest(
            loinc=row["loinc"],
            display=row["display"],
            units=row["units"],
            low=Decimal(row["low"]),
            high=Decimal(row["high"]),
            decimals=int(row["decimals"]),
        )
        for row in _rows("lab_tests.csv")
    )


@cache
def vaccines() -> tuple[Vaccine, ...]:
    return tuple(Vaccine(**row) for row in _rows("vaccines.csv"))


@cache
def vital_signs() -> dict[str, VitalSign]:
    """The LOINC code of each ``records.Vitals`` field, keyed by field name."""
    return {row["field"]: VitalSign(**row) for row in _rows("vital_signs.csv")}


@cache
def _displays() -> dict[tuple[CodeSystem, str], str]:
    names: dict[tuple[CodeSystem, str], str] = {}
    for condition in conditions():
        names[CodeSystem.ICD10CM, condition.icd10_code] = condition.icd10_display
        names[CodeSystem.SNOMED, condition.snomed_code] = condition.snomed_display
    for drug in drugs():
        names[CodeSystem.RXNORM, drug.rxnorm] = drug.name
    for allergen in allergens():
        names[allergen.system, allergen.code] = allergen.display
    for concept in (*reactions(), *smoking_statuses()):
        names[CodeSystem.SNOMED, concept.snomed_code] = concept.display
    for test in lab_tests():
        names[CodeSystem.LOINC, test.loinc] = test.display
    for vital in vital_signs().values():
        names[CodeSystem.LOINC, vital.loinc] = vital.display
    for vaccine in vaccines():
        names[CodeSystem.CVX, vaccine.cvx] = vaccine.display
    return names


def display_name(system: CodeSystem, code: str) -> str | None:
    """The display name of a code these tables know, or None."""
    return _displays().get((system, code))
