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


def read_ccda(path: Path) -> ReadCcda:
    bundle = convert_document(path.read_text(encoding="utf-8"))["bundle"]
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    kinds = Counter(resource["resourceType"] for resource in resources)
    (patient,) = [resource for resource in resources if resource["resourceType"] == "Patient"]
    name = (patient.get("name") or [{}])[0]
    born = patient.get("birthDate")
    problems = sum(
        1
        for resource in resources
        if resource["resourceType"] == "Condition"
        and any(
            coding.get("code") == "problem-list-item"
            for category in resource.get("category", [])
            for coding in category.get("coding", [])
        )
    )
    return ReadCcda(
        given=" ".join(name.get("given") or []),
        family=name.get("family") or "",
        birth_date=date.fromisoformat(str(born)) if born else None,
        medications=kinds["MedicationStatement"] + kinds["MedicationRequest"],
        allergies=kinds["AllergyIntolerance"],
        problems=problems,
        immunizations=kinds["Immunization"],
    )


def comparable(name: object) -> str:
    """A name as both views can carry it: NFC, without what XML cannot hold, trimmed."""
    text = unicodedata.normalize("NFC", str(name or ""))
    return "".join(c for c in text if c >= " " or c in "\t\n\r").strip()
