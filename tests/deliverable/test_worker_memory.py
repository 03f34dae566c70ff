"""A batch worker holds what extraction needs and little more: every worker of the pool pays
for what ``exports.local_export`` imports (the pool's server preloads it) and for the C-CDA
validator it compiles, so each is measured in a fresh interpreter, as a worker starts."""

from __future__ import annotations

import json
import subprocess
import sys

MIB = 1024 * 1024

DEMO_BATCH_IN_A_WORKER = """
import json, sys
from datetime import UTC, date, datetime
from pathlib import Path

from exports.local_export import SOURCE_SPOOL_FOLDER, extract_batch_in_worker
from exports.local_sources import DemoSourceSpec
from exports.stages import ExportContext

staging = Path(sys.argv[1])
(staging / SOURCE_SPOOL_FOLDER).mkdir(parents=True)
spec = DemoSourceSpec(patients=10, seed=1)
patient_ids = list(spec.open(staging / SOURCE_SPOOL_FOLDER).patient_ids())[:3]
context = ExportContext(
    "Demo Family Practice", "demo-1", "EXP-000019", date(2026, 1, 5),
    datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
)
result = extract_batch_in_worker(spec, context, patient_ids, staging, 1)
print(json.dumps({
    "patients": result.patients_exported,
    "packages": sorted({name.partition(".")[0] for name in sys.modules}),
}))
"""

VALIDATOR_RESIDENT_BYTES = """
from datetime import UTC, date, datetime

from exports.ccda.validate import validate_ccda
from exports.sources.demo import DemoSource
from exports.stages import ExportContext

def resident_bytes():
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

source = DemoSource(patients=10, seed=1)
context = ExportContext(
    "Demo Family Practice", "demo-1", "EXP-000019", date(2026, 1, 5),
    datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
)
document = context.ccda_builder()(source.read_patient(next(source.patient_ids())))
before = resident_bytes()
assert validate_ccda(document, generated=True).is_valid
print(resident_bytes() - before)
"""


def run_fresh(program: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        check=True,
        text=True,
        timeout=120,
    )
    return completed.stdout.strip().splitlines()[-1]


def test_a_demo_exports_worker_loads_neither_django_nor_an_ehrs_http_client(tmp_path):
    worker = json.loads(run_fresh(DEMO_BATCH_IN_A_WORKER, str(tmp_path / "staging")))

    assert worker["patients"] == 3  # the batch ran: files, C-CDAs built and validated
    # Django (the template engine of the package step's readme) took 5 MB, httpx
    # (DrChrono's and FHIR Bulk's client, with its command line's rich and pygments) 16 MB.
    assert "django" not in worker["packages"]
    assert "httpx" not in worker["packages"]


def test_the_ccda_validator_of_a_worker_holds_under_32_mib():
    # The XSD and the Schematron's errors phase, compiled on first use and kept: 39 MiB while
    # the Schematron held the whole vocabulary's tree for 14 of its 104 value sets.
    grown = int(run_fresh(VALIDATOR_RESIDENT_BYTES))

    assert grown < 32 * MIB, grown // MIB
