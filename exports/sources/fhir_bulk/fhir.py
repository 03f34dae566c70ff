"""Reading FHIR R4 JSON: references, codings, dates and attachments, defensively.

Helpers only; what a resource becomes in the deliverable is ``mapping``. A value that is
present but malformed raises ``MappingError`` naming the element (never its value: values
are PHI), so the record is reported failed instead of exported with a blanked value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

Resource = Mapping[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CVX = "http://hl7.org/fhir/sid/cvx"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"


class MappingError(ValueError):
    """A resource that cannot become a record; the message names the element."""


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id a reference names when it points at ``resource_type`` ("Patient/7", a full URL
    ending in it, or a versioned one), else None."""
    if not isinstance(reference, Mapping):
        return None
    value = reference.get("reference")
    if not isinstance(value, str):
        return None
    parts = value.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


def display(reference: Any) -> str:
    return text(reference, "display") if isinstance(reference, Mapping) else ""


def items(resource: Resource, key: str) -> list[Any]:
    value = resource.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"{key} is not a list")
    return value


def first(resource: Resource, key: str) -> Mapping[str, Any]:
    for item in items(resource, key):
        if isinstance(item, Mapping):
            return item
    return {}


def obj(resource: Resource, key: str) -> Mapping[str, Any]:
    value = resource.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingError(f"{key} is not an object")
    return value


def text(resource: Resource, key: str) -> str:
    value = resource.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{key} is not text")
    return str(value).strip()


def codings(concept: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(concept, Mapping):
        for coding in concept.get("coding") or ():
            if isinstance(coding, Mapping):
                yield coding


def code_in(concept: Any, system: str) -> str:
    for coding in codings(concept):
        if coding.get("system") == system and isinstance(coding.get("code"), str):
            return coding["code"]
    return ""


def concept_text(concept: Any) -> str:
    """What a CodeableConcept says in words: its text, else its first coding's display."""
    if not isinstance(concept, Mapping):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return concept["text"].strip()
    for coding in codings(concept):
        if isinstance(coding.get("display"), str) and coding["display"].strip():
            return coding["display"].strip()
    return ""


def first_code(concept: Any) -> str:
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return coding["code"]
    return ""


def fhir_date(resource: Resource, key: str) -> date | None:
    """A FHIR date or dateTime as a date; a partial date (year, year-month) gives None."""
    value = text(resource, key)
    if not value:
        return None
    if len(value) < 10:
        if not value.replace("-", "").isdigit():
            raise MappingError(f"{key} is not a date")
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise MappingError(f"{key} is not a date") from None


def fhir_datetime(resource: Resource, key: str) -> datetime | None:
    """A FHIR dateTime or instant as a naive local datetime (as the EHR wrote it)."""
    value = text(resource, key)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{key} is not a date and time") from None
    return moment.replace(tzinfo=None)


def period_start(resource: Resource, key: str) -> datetime | None:
    return fhir_datetime(obj(resource, key), "start")


def period_end(resource: Resource, key: str) -> datetime | None:
    return fhir_datetime(obj(resource, key), "end")


def note_text(resource: Resource) -> str:
    return "\n".join(
        text(note, "text") for note in items(resource, "note") if isinstance(note, Mapping)
    ).strip()
