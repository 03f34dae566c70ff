"""The export's steps as plain functions: plan batches, extract one, package, archive.

The Celery pipeline (``exports.pipeline``) runs them on workers with progress in the database;
``manage.py export_practice`` runs them in one process. Both get the same deliverable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from itertools import islice
from pathlib import Path

from exports.archive import ArchivePart, build_archive
from exports.ccda.generate import AuthoringSystem, Organization, build_ccd
from exports.ccda.validate import ValidationProblem, check_source_ccda, validate_ccda
from exports.packaging.batch import BatchPart, BatchResult, extract_batch
from exports.packaging.layout import ExportLayout
from exports.packaging.members import BatchMembers
from exports.packaging.package import PackageResult, package
from exports.sources.base import PracticeSource
from exports.timings import StageTimings

# Ids in the generated C-CDAs are UUIDs derived from these names, so the same practice always
# gets the same ids and a batch that runs twice writes the same bytes.
_PORTAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:export-portal")
AUTHORING_SYSTEM = AuthoringSystem(
    software_name="Export Portal",
    manufacturer_model_name="Export Portal C-CDA R2.1 exporter",
    id_root=str(uuid.uuid5(_PORTAL_NAMESPACE, "authoring-system")),
)


@dataclass(frozen=True)
class ExportContext:
    """What every step of one export needs to know, none of it PHI."""

    practice_name: str
    practice_key: str  # the practice's id in the EHR: names its C-CDA id roots
    reference: str  # the request's reference, e.g. EXP-000123
    export_date: date
    started_at: datetime  # timezone-aware: the C-CDAs' effective time

    @property
    def layout(self) -> ExportLayout:
        return ExportLayout(practice_name=self.practice_name, export_date=self.export_date)

    def ccda_builder(self) -> Callable:
        practice_root = uuid.uuid5(_PORTAL_NAMESPACE, f"practice:{self.practice_key}")
        custodian = Organization(name=self.practice_name, id_root=str(practice_root))
        build = partial(
            build_ccd,
            custodian=custodian,
            author=AUTHORING_SYSTEM,
            record_id_root=str(uuid.uuid5(practice_root, "records")),
            effective_time=self.started_at,
        )
        return lambda record: build(record, document_id=f"{self.reference}-{record.id}")


def generated_ccda_problems(document: bytes) -> tuple[ValidationProblem, ...]:
    """Our CCDs must pass the CDA schema and the C-CDA R2.1 Schematron's errors phase."""
    return validate_ccda(document, generated=True).problems


def plan_batches(source: PracticeSource, batch_size: int) -> Iterator[list[str]]:
    """The practice's patient ids cut into batches, in the source's stable order."""
    ids = source.patient_ids()
    while batch := list(islice(ids, batch_size)):
        yield batch


def run_batch(
    source: PracticeSource,
    context: ExportContext,
    patient_ids: Sequence[str],
    staging: Path,
    number: int,
    timings: StageTimings | None = None,
    *,
    ccdas: bool = False,
) -> BatchResult:
    """Extract one batch. A source that fetches each patient's C-CDA against an allowance gets
    its records batches first (``ccdas`` False: the C-CDAs wait) and a final pass of C-CDA
    batches (``ccdas`` True) over the same patients; any other source gets all in one."""
    part = BatchPart.ALL
    if source.fetches_ccda_per_patient:
        part = BatchPart.CCDAS if ccdas else BatchPart.RECORDS
    elif ccdas:
        raise ValueError(f"{source.kind} has no C-CDA pass: its C-CDAs come with its records")
    return extract_batch(
        source,
        patient_ids,
        staging,
        number,
        layout=context.layout,
        ccda_builder=context.ccda_builder(),
        ccda_validator=generated_ccda_problems,
        source_ccda_validator=check_source_ccda,
        part=part,
        timings=timings,
    )


def run_package(
    source: PracticeSource,
    context: ExportContext,
    staging: Path,
    batch_numbers: Sequence[int],
    timings: StageTimings | None = None,
    *,
    heartbeat: Callable[[], None] | None = None,
) -> PackageResult:
    return package(
        staging,
        batch_numbers,
        layout=context.layout,
        counts_in_source=source.counts_in_source(),
        unattached=source.unattached_records(),
        outside_patients=source.records_outside_patients(),
        excluded_outside_patients=source.exclusions_outside_patients(),
        notes=source.notes(),
        timings=timings,
        heartbeat=heartbeat,
    )


def run_archive(
    packaged: PackageResult,
    out_dir: Path,
    password: str,
    *,
    part_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[ArchivePart]:
    with BatchMembers(packaged.members_dirs) as members:
        return build_archive(
            packaged.root,
            out_dir,
            password,
            part_bytes=part_bytes,
            progress=progress,
            members=members,
        )
