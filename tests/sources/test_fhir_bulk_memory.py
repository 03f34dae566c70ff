"""Memory stays flat: NDJSON is read line by line into the spool, attachments stream.

Peaks are measured with tracemalloc around the source's own work (the fake server, in this
process, writes its files before the measurement starts)."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exports.sources.demo_files import LargePdfFile
from exports.sources.fhir_bulk import FhirBulkSettings, FhirBulkSource, KeyRing
from exports.sources.fhir_bulk.keys import ES384
from exports.sources.records import Category
from tests.fakes.fhir_bulk_practice import FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, FakeBulkServer, WallClock

ATTACHMENT_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC))


def practice_of(results: int) -> FhirPractice:
    practice = FhirPractice()
    for number in range(results // 50):
        practice.add({"resourceType": "Patient", "id": f"p{number}"})
    for number in range(results):
        practice.add(
            {
                "resourceType": "Observation",
                "id": f"o{number}",
                "status": "final",
                "subject": {"reference": f"Patient/p{number % (results // 50)}"},
                "code": {"text": "Glucose " * 40},
                "valueQuantity": {"value": number, "unit": "mg/dL"},
            }
        )
    return practice


def connect(server: FakeBulkServer, ring: KeyRing, work_dir: Path) -> FhirBulkSource:
    return FhirBulkSource.connect(
        FhirBulkSettings(base_url=server.base_url, client_id=CLIENT_ID),
        ring.current,
        work_dir,
        clock=WallClock(),
    )


def spooling_peak(results: int, ring: KeyRing, work_dir: Path) -> int:
    with FakeBulkServer(practice_of(results), ring.jwks()) as server:
        server._start_job(("Patient", "Observation"))  # the fake's own files: not measured
        with connect(server, ring, work_dir) as source:
            tracemalloc.start()
            try:
                source.prepare()
                counted = source.counts_in_source()[Category.LAB_RESULTS]
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert counted == results
    return peak


def test_spooling_four_times_the_ndjson_takes_no_more_memory(ring, tmp_path):
    small = spooling_peak(1_500, ring, tmp_path / "small")
    large = spooling_peak(6_000, ring, tmp_path / "large")  # about 3 MB of NDJSON

    assert large < small * 1.25 + 128 * 1024, (small, large)


def test_a_huge_attachment_streams_through_in_pieces(ring, tmp_path):
    practice = practice_of(50)
    practice.add(
        {
            "resourceType": "DocumentReference",
            "id": "big",
            "status": "current",
            "subject": {"reference": "Patient/p0"},
            "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/big"}}],
        }
    )
    blob = LargePdfFile("Scanned chart", ("page",), datetime(2020, 1, 1), ATTACHMENT_BYTES, "k")
    practice.binaries["big"] = blob
    expected = hashlib.sha256(b"".join(blob.chunks())).hexdigest()
    with FakeBulkServer(practice, ring.jwks()) as server, connect(server, ring, tmp_path) as source:
        server._binary_file("big")  # written to the fake's disk before measuring
        (document,) = source.read_patient("p0").documents
        digest, pieces = hashlib.sha256(), 0
        tracemalloc.start()
        try:
            for chunk in document.file.chunks():
                digest.update(chunk)
                pieces += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert digest.hexdigest() == expected
    assert pieces > 10
    assert peak < ATTACHMENT_BYTES // 8, peak
