"""Allergies and Intolerances Section (entries required) (V3): one Allergy Concern Act per
allergy the source lists, "no known (drug) allergies" included, as a negated observation."""

from __future__ import annotations

from collections.abc import Sequence

from exports.sources.records import Allergy

from .. import vocabulary as voc
from ..elements import Element, add, add_code, add_interval, add_template
from ..vocabulary import Code, NullFlavor
from .common import (
    ASSERTION,
    CONCERN,
    RecordIds,
    SectionKind,
    add_clinical_status,
    add_table_section,
    add_text_reference,
    day,
)

ALLERGIES = SectionKind(
    "2.16.840.1.113883.10.20.22.2.6.1",
    "2015-08-01",
    Code("48765-2", voc.LOINC, "Allergies and adverse reactions Document"),
    "Allergies and Intolerances",
    "No information about allergies or intolerances.",
    row_prefix="allergy",
    headers=("Allergen", "Reaction", "Severity", "Status", "Onset", "Notes"),
    cell_ids={0: "allergen", 1: "reaction", 2: "severity", 3: "status"},
)

_NO_KNOWN_ALLERGIES = {
    "nka": "419199007",
    "no known allergies": "419199007",
    "no known allergy": "419199007",
    "nkda": "416098002",
    "no known drug allergies": "416098002",
    "no known drug allergy": "416098002",
}
_ALLERGY_TO_SUBSTANCE = Code("419199007", voc.SNOMED_CT, "Allergy to substance")
_ALLERGY_TO_DRUG = Code("416098002", voc.SNOMED_CT, "Allergy to drug")


def add_allergies_section(body: Element, allergies: Sequence[Allergy], ids: RecordIds) -> None:
    add_table_section(body, ALLERGIES, allergies, _cells, _add_allergy_entry, ids)


def _cells(allergy: Allergy) -> tuple[str, ...]:
    return (
        allergy.description,
        allergy.reaction,
        allergy.severity,
        allergy.status,
        day(allergy.onset_date),
        allergy.notes,
    )


def _add_allergy_entry(entry: Element, allergy: Allergy, row: str, ids: RecordIds) -> None:
    status = voc.concern_status(allergy.status)
    act = add(entry, "act", {"classCode": "ACT", "moodCode": "EVN"})
    add_template(act, "2.16.840.1.113883.10.20.22.4.30", "2015-08-01")
    ids.add(act, "allergy-concern", allergy.id)
    add_code(act, CONCERN)
    add(act, "statusCode", {"code": status})
    add_interval(act, allergy.onset_date, with_high=status == "completed")

    no_known = _NO_KNOWN_ALLERGIES.get(voc.normalize(allergy.description))
    drug = voc.source_code(allergy.rxnorm, voc.RXNORM)
    substance = voc.source_code(allergy.snomed_code, voc.SNOMED_CT)
    negated = no_known is not None and drug is None and substance is None
    observation_attributes = {"classCode": "OBS", "moodCode": "EVN"}
    if negated:
        observation_attributes["negationInd"] = "true"
    observation = add(
        add(act, "entryRelationship", {"typeCode": "SUBJ"}), "observation", observation_attributes
    )
    add_template(observation, "2.16.840.1.113883.10.20.22.4.7", "2014-06-09")
    ids.add(observation, "allergy", allergy.id)
    add_code(observation, ASSERTION)
    add_text_reference(observation, row)
    add(observation, "statusCode", {"code": "completed"})
    add_interval(observation, allergy.onset_date)
    if negated:
        # "No known (drug) allergies": the allergy type, negated, of no particular substance.
        add_code(observation, Code(no_known, voc.SNOMED_CT), tag="value", xsi_type="CD")
        _add_allergen(observation, NullFlavor.NOT_APPLICABLE, None)
        _add_allergy_status(observation, allergy, row)
        return
    add_code(
        observation,
        _ALLERGY_TO_DRUG if drug else _ALLERGY_TO_SUBSTANCE,
        tag="value",
        xsi_type="CD",
    )
    allergen: Code | NullFlavor = drug or substance or NullFlavor.OTHER
    _add_allergen(observation, allergen, f"{row}-allergen")
    _add_allergy_status(observation, allergy, row)

    severity = voc.severity_code(allergy.severity) if allergy.severity.strip() else None
    if allergy.reaction.strip() or allergy.snomed_reaction.strip():
        reaction = _add_reaction(observation, allergy, row, ids)
        if isinstance(severity, Code):
            _add_severity(reaction, severity, row)
    elif isinstance(severity, Code):
        _add_severity(observation, severity, row)


def _add_allergy_status(observation: Element, allergy: Allergy, row: str) -> None:
    add_clinical_status(
        observation,
        allergy.status,
        template_root="2.16.840.1.113883.10.20.22.4.28",
        relationship={"typeCode": "SUBJ", "inversionInd": "true"},
        value_type="CE",
        reference=f"{row}-status",
    )


def _add_allergen(observation: Element, allergen: Code | NullFlavor, reference: str | None) -> None:
    role = add(
        add(observation, "participant", {"typeCode": "CSM"}),
        "participantRole",
        {"classCode": "MANU"},
    )
    playing_entity = add(role, "playingEntity", {"classCode": "MMAT"})
    add_code(playing_entity, allergen, reference=reference)


def _add_reaction(
    allergy_observation: Element, allergy: Allergy, row: str, ids: RecordIds
) -> Element:
    relationship = add(
        allergy_observation, "entryRelationship", {"typeCode": "MFST", "inversionInd": "true"}
    )
    reaction = add(relationship, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(reaction, "2.16.840.1.113883.10.20.22.4.9", "2014-06-09")
    ids.add(reaction, "allergy-reaction", allergy.id)
    add_code(reaction, ASSERTION)
    add_text_reference(reaction, f"{row}-reaction")
    add(reaction, "statusCode", {"code": "completed"})
    value = voc.source_code(allergy.snomed_reaction, voc.SNOMED_CT) or NullFlavor.OTHER
    add_code(reaction, value, tag="value", xsi_type="CD", reference=f"{row}-reaction")
    return reaction


def _add_severity(parent: Element, severity: Code, row: str) -> None:
    relationship = add(parent, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "true"})
    observation = add(relationship, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(observation, "2.16.840.1.113883.10.20.22.4.8", "2014-06-09")
    add_code(observation, Code("SEV", voc.ACT_CODE, "Severity Observation"))
    add_text_reference(observation, f"{row}-severity")
    add(observation, "statusCode", {"code": "completed"})
    add_code(observation, severity, tag="value", xsi_type="CD")
