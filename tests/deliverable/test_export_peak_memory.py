"""Memory stays flat as practices grow: the command's peak RSS (one process, ``--workers=1``, so
extraction, packaging and archiving all count) for ten times the patients, or a 64 MiB
document, stays within a small margin of a small practice's."""

from __future__ import annotations

import pytest
from deliverable_helpers import CommandRun, demo_export_args, run_export_command

MIB = 1024 * 1024
#: what growing work may add to the peak: allocator noise and caches, far below what holding
#: the practice or the document would take
MARGIN_BYTES = 16 * MIB


def peak_rss(tmp_path_factory, name: str, *, patients: int, document_bytes: int) -> CommandRun:
    work_dir = tmp_path_factory.mktemp(name)
    args = demo_export_args(work_dir, patients=patients, large_document_bytes=document_bytes)
    run = run_export_command(work_dir, *args, "--workers=1")
    assert run.returncode == 1, run.stderr  # the demo's deliberate failures, nothing else
    return run


@pytest.fixture(scope="module")
def small_practice(tmp_path_factory) -> CommandRun:
    return peak_rss(tmp_path_factory, "peak-40", patients=40, document_bytes=64 * 1024)


@pytest.mark.slow
def test_ten_times_the_patients_do_not_raise_peak_memory(small_practice, tmp_path_factory):
    large_practice = peak_rss(tmp_path_factory, "peak-400", patients=400, document_bytes=64 * 1024)

    assert large_practice.peak_rss_bytes <= small_practice.peak_rss_bytes + MARGIN_BYTES, (
        small_practice.peak_rss_bytes // MIB,
        large_practice.peak_rss_bytes // MIB,
    )


def test_a_64_mib_document_does_not_raise_peak_memory(small_practice, tmp_path_factory):
    large_document = peak_rss(tmp_path_factory, "peak-64mib", patients=40, document_bytes=64 * MIB)

    assert large_document.peak_rss_bytes <= small_practice.peak_rss_bytes + MARGIN_BYTES, (
        small_practice.peak_rss_bytes // MIB,
        large_document.peak_rss_bytes // MIB,
    )
