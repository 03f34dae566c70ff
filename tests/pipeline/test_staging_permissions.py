"""Staging holds PHI: each attempt's folder is readable by the service's own user only."""

import stat
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_runs_staging_folders_are_owner_only(packaged_job):
    *_, job = packaged_job
    staging = Path(job.staging_dir)

    assert mode_of(staging) == 0o700  # everything of the run lies below it
    assert mode_of(staging / "source") == 0o700
    assert mode_of(staging / "archive") == 0o700
    assert any(staging.joinpath("tree").rglob("*.xlsx")), "a real run wrote its files here"
