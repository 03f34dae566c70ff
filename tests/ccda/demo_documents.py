"""The demo practice's generated CCDs, built as the pipeline builds them: the sample the
builder's and the validator's equivalence tests are held to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from exports.ccda import GeneratedCcd
from exports.sources.demo import DemoSource
from exports.stages import ExportContext

# The first eleven patients carry every hard case (``HARD_CASE_PATIENTS``).
DEMO_PATIENTS = 40
DEMO_SEED = 1


def demo_context() -> ExportContext:
    return ExportContext(
        practice_name="Demo Family Practice",
        practice_key="demo-1",
        reference="EXP-000019",
        export_date=date(2026, 1, 5),
        started_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    )


def demo_documents(patients: int = DEMO_PATIENTS) -> Iterator[tuple[str, GeneratedCcd]]:
    """(patient id, CCD bytes) for the demo practice's first ``patients`` patients."""
    source = DemoSource(patients=max(patients, 10), seed=DEMO_SEED)
    build = demo_context().ccda_builder()
    for patient_id in list(source.patient_ids())[:patients]:
        yield patient_id, build(source.read_patient(patient_id))
