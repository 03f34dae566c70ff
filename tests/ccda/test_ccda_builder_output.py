"""The builder's output for the demo practice stays byte-for-byte what it was when these
hashes were recorded (before the builder was made cheaper): a re-run of an export writes
identical files, and a faster builder is not a different one.

The hashes in ``data/demo_ccd_sha256.txt`` are SHA-256 of each patient's CCD from
``demo_documents()``. Change them only with a change that means to change the documents.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from demo_documents import demo_documents

RECORDED = Path(__file__).parent / "data" / "demo_ccd_sha256.txt"


def test_the_demo_practices_documents_are_byte_identical_to_the_recorded_ones():
    recorded = dict(line.split() for line in RECORDED.read_text().splitlines())

    built = {
        patient_id: hashlib.sha256(document).hexdigest()
        for patient_id, document in demo_documents(len(recorded))
    }

    assert built == recorded
