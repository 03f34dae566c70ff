"""Memory stays flat: a file far larger than memory budget streams through in chunks."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import date

from export_builders import (
    GeneratedBlob,
    ListSource,
    batch_manifest_rows,
    build_ccd,
    patient,
    validate_ccd,
    validate_source_ccd,
)

from exports.packaging import ExportLayout, extract_batch
from exports.packaging.spool import CommittedBatch
from exports.sources.records import Document

CHUNK = 1 << 20
CHUNKS = 48  # 48 MiB through, at most a few chunks' worth held


def test_a_large_document_streams_to_disk_with_flat_memory_and_its_hash(tmp_path):
    record = patient(id="1001")
    record.documents = [Document(id="big", date=None, file=GeneratedBlob(CHUNKS, CHUNK))]
    source = ListSource([record])

    tracemalloc.start()
    try:
        extract_batch(
            source,
            ["1001"],
            tmp_path,
            1,
            layout=ExportLayout("Practice", date(2024, 5, 1)),
            ccda_builder=build_ccd,
            ccda_validator=validate_ccd,
            source_ccda_validator=validate_source_ccd,
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * CHUNK
    expected = hashlib.sha256()
    for chunk in GeneratedBlob(CHUNKS, CHUNK).chunks():
        expected.update(chunk)
    entries = {
        path: (size, sha)
        for path, size, sha in batch_manifest_rows(CommittedBatch(tmp_path, 1).manifest_path)
    }
    big = next(path for path in entries if path.endswith("/Uploaded Documents/big.bin"))
    assert entries[big] == (CHUNKS * CHUNK, expected.hexdigest())
