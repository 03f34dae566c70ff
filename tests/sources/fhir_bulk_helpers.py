"""The demo practice the FHIR Bulk tests export through the fake Bulk Data server."""

from __future__ import annotations

from exports.sources.demo import HARD_CASE_PATIENTS, DemoSource

#: every hard case sits among the first eleven patients; one more is an ordinary patient
PATIENTS = max(index for indexes in HARD_CASE_PATIENTS.values() for index in indexes) + 2
SEED = 7
LARGE_DOCUMENT_BYTES = 65536


def demo_practice() -> DemoSource:
    return DemoSource(patients=PATIENTS, seed=SEED, large_document_bytes=LARGE_DOCUMENT_BYTES)
