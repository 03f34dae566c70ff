"""Problem Section (entries required) (V3): one Problem Concern Act per problem; and the
Problem Observation that encounter diagnoses share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from exports.sources.records import Problem

from .. import vocabulary as voc
from ..elements import Element, add, add_code, add_interval, add_template
from ..vocabulary import Code, NullFlavor
from .common import (
    CONCERN,
    RecordIds,
    SectionKind,
    add_clinical_status,
    add_table_section,
    add_text_reference,
    day,
)

PROBLEMS = SectionKind(
    "2.16.840.1.113883.10.20.22.2.5.1",
    "2015-08-01",
    Code("11450-4", voc.LOINC, "Problem list - Reported"),
    "Problems",
    "No information about problems.",
    row_prefix="problem",
    headers=(
        "Problem",
        "ICD-10-CM",
        "SNOMED CT",
        "Status",
        "Onset",
        "Diagnosed",
        "Resolved",
        "Notes",
    ),
    cell_ids={0: "name", 3: "status"},
)
PROBLEM_TYPE = Code("55607006", voc.SNOMED_CT, "Problem")
DIAGNOSIS_TYPE = Code("282291009", voc.SNOMED_CT, "Diagnosis interpretation")


def add_problems_section(body: Element, problems: Sequence[Problem], ids: RecordIds) -> None:
    add_table_section(body, PROBLEMS, problems, _cells, _add_problem_entry, ids)


def _cells(problem: Problem) -> tuple[str, ...]:
    return (
        problem.name,
        problem.icd10_code,
        problem.snomed_code,
        problem.status,
        day(problem.date_onset),
        day(problem.date_diagnosis),
        day(problem.date_resolved),
        problem.notes,
    )


def _add_problem_entry(entry: Element, problem: Problem, row: str, ids: RecordIds) -> None:
    status = voc.concern_status(problem.status)
    onset = problem.date_onset or problem.date_diagnosis
    act = add(entry, "act", {"classCode": "ACT", "moodCode": "EVN"})
    add_template(act, "2.16.840.1.113883.10.20.22.4.3", "2015-08-01")
    ids.add(act, "problem-concern", problem.id)
    add_code(act, CONCERN)
    add(act, "statusCode", {"code": status})
    add_interval(act, onset, with_high=status == "completed")
    add_problem_observation(
        add(act, "entryRelationship", {"typeCode": "SUBJ"}),
        ids,
        ("problem", problem.id),
        problem_type=PROBLEM_TYPE,
        onset=onset,
        resolved=problem.date_resolved,
        ended=status == "completed",
        snomed_code=problem.snomed_code,
        icd10_code=problem.icd10_code,
        text_reference=row,
        value_reference=f"{row}-name",
        status=(problem.status, f"{row}-status"),
    )


def add_problem_observation(
    relationship: Element,
    ids: RecordIds,
    record_id: tuple[str, str],
    *,
    problem_type: Code,
    onset: date | datetime | str | None,
    resolved: date | None,
    ended: bool,
    snomed_code: str,
    icd10_code: str,
    text_reference: str,
    value_reference: str,
    status: tuple[str, str] | None = None,
) -> None:
    """A Problem Observation: SNOMED CT in value when known, ICD-10-CM as its translation
    (or alone beside nullFlavor OTH, which says "coded, but not in SNOMED CT"); with
    ``status`` (the source's text, the narrative cell showing it) its Problem Status."""
    observation = add(relationship, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    add_template(observation, "2.16.840.1.113883.10.20.22.4.4", "2015-08-01")
    ids.add(observation, *record_id)
    add_code(observation, problem_type)
    add_text_reference(observation, text_reference)
    add(observation, "statusCode", {"code": "completed"})
    add_interval(observation, onset, resolved, with_high=ended)
    value = voc.source_code(snomed_code, voc.SNOMED_CT) or NullFlavor.OTHER
    icd10 = voc.source_code(icd10_code, voc.ICD10_CM)
    add_code(
        observation,
        value,
        tag="value",
        xsi_type="CD",
        reference=value_reference,
        translations=(icd10,) if icd10 else (),
    )
    if status is not None:
        add_clinical_status(
            observation,
            status[0],
            template_root="2.16.840.1.113883.10.20.22.4.6",
            relationship={"typeCode": "REFR"},
            value_type="CD",
            reference=status[1],
        )
