"""Reading a shipped C-CDA with an independent reader: ccda-to-fhir (PyPI ``ccda-to-fhir``,
Nurra Health's C-CDA to FHIR R4B converter), written and tested apart from this project, as a
receiving EHR would import the document. Nothing here reuses the portal's C-CDA code."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ccda_to_fhir import convert_document

#: the converter logs every entry it maps; the tests want their own output readable
logging.getLogger("ccda_to_fhir").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ReadCcda:
    """What the reader found in one document."""

    given: str
    family: str
    birth_date: date | None
    medications: int
    allergies: int
    problems: int
    immunizations: int
    problem_statuses: tuple[str, ...]  # clinical status of each problem-list item, sorted
    allergy_statuses: tuple[str, ...]


def read_ccda(path: Path) -> ReadCcda:
    bundle = convert_document(path.read_text(encoding="utf-8"))["bundle"]
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    kinds = Counter(resource["resourceType"] for resource in resources)
    (patient,) = [resource for resource in resources if resource["resourceType"] == "Patient"]
    name = (patient.get("name") or [{}])[0]
    born = patient.get("birthDate")
    problems = [
        resource
        for resource in resources
        if resource["resourceType"] == "Condition"
        and any(
            coding.get("code") == "problem-list-item"
            for category in resource.get("category", [])
            for coding in category.get("coding", [])
        )
    ]
    allergies = [r for r in resources if r["resourceType"] == "AllergyIntolerance"]
    return ReadCcda(
        given=" ".join(name.get("given") or []),
        family=name.get("family") or "",
        birth_date=date.fromisoformat(str(born)) if born else None,
        medications=kinds["MedicationStatement"] + kinds["MedicationRequest"],
        allergies=len(allergies),
        problems=len(problems),
        immunizations=kinds["Immunization"],
        problem_statuses=_statuses(problems),
        allergy_statuses=_statuses(allergies),
    )


def _statuses(resources: list[dict]) -> tuple[str, ...]:
    return tuple(
        sorted(
            coding.get("code", "")
            for resource in resources
            for coding in resource.get("clinicalStatus", {}).get("coding", [])[:1]
        )
    )


def comparable(name: object) -> str:
    """A name as both views can carry it: NFC, without what XML cannot hold, trimmed."""
    text = unicodedata.normalize("NFC", str(name or ""))
    return "".join(c for c in text if c >= " " or c in "\t\n\r").strip()
