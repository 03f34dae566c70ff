"""``make bench-source``: what exporting a DrChrono practice costs in API calls, measured
against the loopback fake DrChrono (a benchmark, not a test: it asserts nothing).

For practices of 100, 400 and 1,600 patients with the demo practice's record mix it reads
every list and downloads every file, as an export does (without DrChrono's own C-CDAs, which
cost one call per patient and are shown apart), and prints per size: API calls per patient
by endpoint, file downloads per patient, the lower bound (for each list, its records divided
by the largest page it allows, plus the bulk polls), our ratio to it, and the projected
calls and hours of a 10,000-patient practice at 500 calls an hour.

    .venv/bin/python -m tests.sources.bench_source [--sizes 100,400,1600]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exportportal.settings_test")
django.setup()

from exports.sources.drchrono import DrChronoSource, HourlyRequestBudget  # noqa: E402
from exports.sources.drchrono.cost import calls_for_list  # noqa: E402
from exports.sources.drchrono.source import practice_walks  # noqa: E402
from tests.fakes.drchrono_server import (  # noqa: E402
    FakeClock,
    FakeDrChrono,
    MemoryTokenStore,
    build_demo_mix_practice,
)

PROJECTED_PATIENTS = 10_000
PER_HOUR = 500
TARGET_RATIO = 1.2
TARGET_CALLS = 2_500


def measure(patients: int) -> dict:
    practice = build_demo_mix_practice(patients)
    records = {walk.name: len(practice.objects(walk.name)) for walk in practice_walks()}
    started = time.perf_counter()
    with FakeDrChrono(practice, counts=True) as fake, tempfile.TemporaryDirectory() as spool:
        clock = FakeClock()
        store = MemoryTokenStore(fake.tokens())
        with DrChronoSource.connect(
            fake.client_settings(),
            store.tokens,
            token_store=store,
            budget=HourlyRequestBudget(10**9, clock=clock),
            spool_dir=Path(spool),
            clock=clock,
            include_source_ccda=False,
        ) as source:
            source.prepare()
            for record in source.read_patients(source.patient_ids()):
                for blob in _blobs(record):
                    for _ in blob.chunks():
                        pass
            usage = source.usage
            file_paths = [request.path for request in fake.file_requests()]
    lower_bound = sum(calls_for_list(name, count) for name, count in records.items())
    projected = sum(
        calls_for_list(name, round(count * PROJECTED_PATIENTS / patients))
        for name, count in records.items()
    )
    ratio = usage.api_total / lower_bound
    return {
        "patients": patients,
        "api_calls": usage.api_total,
        "by_endpoint": Counter(usage.api_calls),
        "files": usage.file_downloads,
        "files_once": len(file_paths) == len(set(file_paths)) == usage.file_downloads,
        "lower_bound": lower_bound,
        "ratio": ratio,
        "projected": round(projected * ratio),
        "seconds": time.perf_counter() - started,
    }


def _blobs(record):
    """Every file a patient's record points to, as packaging reads them."""
    blobs = [
        card
        for insurance in record.insurances
        for card in (insurance.card_front, insurance.card_back)
    ]
    blobs.append(record.photo.file if record.photo else None)
    blobs += [note.pdf for note in record.clinical_notes]
    blobs += [document.file for document in record.documents]
    blobs += [result.report for result in record.lab_results]
    blobs += [attachment.file for message in record.messages for attachment in message.attachments]
    blobs += [fax.file for fax in record.faxes_and_referrals]
    return filter(None, blobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,400,1600")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    rows = [measure(size) for size in sizes]

    print(
        f"| patients | API calls | API calls/patient | file downloads/patient | lower bound "
        f"| ratio | projected {PROJECTED_PATIENTS:,} patients | hours at {PER_HOUR}/h | s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        n = row["patients"]
        print(
            f"| {n:,} | {row['api_calls']:,} | {row['api_calls'] / n:.3f} "
            f"| {row['files'] / n:.2f} | {row['lower_bound']:,} | {row['ratio']:.2f}x "
            f"| {row['projected']:,} calls | {row['projected'] / PER_HOUR:.1f} "
            f"| {row['seconds']:.0f} |"
        )
    print()
    endpoints = sorted({e for row in rows for e in row["by_endpoint"]})
    print(
        "| API calls/patient by endpoint | " + " | ".join(f"{r['patients']:,}" for r in rows) + " |"
    )
    print("|---|" + "---:|" * len(rows))
    for endpoint in endpoints:
        cells = " | ".join(f"{r['by_endpoint'][endpoint] / r['patients']:.4f}" for r in rows)
        print(f"| {endpoint} | {cells} |")
    print("| (source C-CDAs, when fetched) | " + " | ".join("1.0000" for _ in rows) + " |")
    print()
    worst = max(row["ratio"] for row in rows)
    projected = rows[-1]["projected"]
    print(
        f"Targets: ratio at most {TARGET_RATIO}x the lower bound: "
        f"{'met' if worst <= TARGET_RATIO else f'missed by {worst - TARGET_RATIO:.2f}x'} "
        f"(worst {worst:.2f}x); {PROJECTED_PATIENTS:,} patients in at most {TARGET_CALLS:,} API "
        f"calls without source C-CDAs: "
        f"{'met' if projected <= TARGET_CALLS else f'missed by {projected - TARGET_CALLS:,}'} "
        f"({projected:,}). Every file downloaded once: "
        f"{'yes' if all(row['files_once'] for row in rows) else 'no'}."
    )


if __name__ == "__main__":
    main()
