"""What ``export_practice`` and ``run_local_export`` leave behind when an export cannot be
trusted, and what the data team sees on a terminal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exports.local_export import ExitCode, run_local_export
from exports.local_sources import DemoSourceSpec
from exports.sources.base import PracticeSource
from exports.sources.demo import DemoSource
from exports.sources.records import Category, PatientRecord, TransientSourceError
from exports.stages import ExportContext

CONTEXT = ExportContext(
    practice_name="Sunrise Pediatrics",
    practice_key="test-practice",
    reference="EXP-TEST",
    export_date=date(2025, 7, 1),
    started_at=datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
)


class _OverCountingDemo(DemoSource):
    """Claims one medication more than it yields: a record gone missing without a trace."""

    def counts_in_source(self) -> Mapping[Category, int]:
        counts = dict(super().counts_in_source())
        counts[Category.MEDICATIONS] += 1
        return counts


class _FailingDemo(DemoSource):
    """The source goes away in the middle of the practice."""

    def read_patient(self, patient_id: str) -> PatientRecord:
        if patient_id.endswith("5"):
            raise TransientSourceError("the source timed out")
        return super().read_patient(patient_id)


@dataclass(frozen=True)
class _Spec(DemoSourceSpec):
    source_class: type[DemoSource] = DemoSource

    def open(self, spool_dir: Path) -> PracticeSource:
        return self.source_class(patients=self.patients, seed=self.seed, large_document_bytes=4096)


def export(tmp_path: Path, source_class: type[DemoSource], *, workers: int = 1, **options):
    return run_local_export(
        _Spec(patients=10, seed=3, source_class=source_class),
        CONTEXT,
        out_dir=tmp_path / "out",
        password_file=tmp_path / "password.txt",
        batch_size=4,
        workers=workers,
        **options,
    )


def test_an_unbalanced_reconciliation_archives_nothing_and_keeps_no_password(tmp_path):
    result = export(tmp_path, _OverCountingDemo)

    assert result.exit_code is ExitCode.NOT_ARCHIVED
    assert [line.key for line in result.reconciliation.unbalanced] == ["medications"]
    assert result.archives == ()
    assert list((tmp_path / "out").iterdir()) == []  # no archive, no staging
    assert not (tmp_path / "password.txt").exists()


def test_a_crash_leaves_no_archive_staging_or_password(tmp_path):
    with pytest.raises(TransientSourceError):
        export(tmp_path, _FailingDemo)

    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "password.txt").exists()


def test_keep_tree_leaves_the_unpacked_deliverable_owner_only(tmp_path):
    result = export(tmp_path, DemoSource, keep_tree=True)

    assert result.tree is not None and result.tree.is_dir()
    assert result.tree.name == "Sunrise Pediatrics_Data_Export_2025-07-01"
    staging = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert result.tree.is_relative_to(staging)
    assert staging.stat().st_mode & 0o077 == 0
    assert [p.name for p in result.archives[0].path.parent.glob("*.zip")] == [
        "Sunrise Pediatrics_Data_Export_2025-07-01.zip"
    ]


def test_it_refuses_to_overwrite_a_password_file(tmp_path):
    password_file = tmp_path / "password.txt"
    password_file.write_text("the password of another export\n")

    with pytest.raises(CommandError, match="refusing to overwrite") as refused:
        call_command(
            "export_practice",
            "--source=demo",
            "--patients=10",
            f"--out={tmp_path / 'out'}",
            f"--password-file={password_file}",
            stdout=StringIO(),
        )

    assert refused.value.returncode == 2
    assert password_file.read_text() == "the password of another export\n"
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("patients", ["9", "100001"])
def test_it_rejects_a_demo_practice_size_it_cannot_make(tmp_path, patients):
    with pytest.raises(CommandError, match="--patients must be 10 to 100000"):
        call_command(
            "export_practice",
            "--source=demo",
            f"--patients={patients}",
            f"--out={tmp_path / 'out'}",
            f"--password-file={tmp_path / 'password.txt'}",
        )


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_shows_progress_bars_for_extraction_and_archiving(tmp_path, capsys):
    with pytest.raises(CommandError) as finished:
        call_command(
            "export_practice",
            "--source=demo",
            "--patients=10",
            "--large-document-bytes=4096",
            "--workers=1",
            f"--out={tmp_path / 'out'}",
            f"--password-file={tmp_path / 'password.txt'}",
            stdout=_Terminal(),
        )

    assert finished.value.returncode == ExitCode.RECORDS_FAILED
    bars = capsys.readouterr().err
    assert "Extracting: 100%" in bars
    assert "10/10" in bars
    assert "Archiving: 100%" in bars


def test_a_batch_failing_in_a_worker_process_fails_the_export_and_cleans_up(tmp_path):
    with pytest.raises(TransientSourceError, match="the source timed out"):
        export(tmp_path, _FailingDemo, workers=2)

    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "password.txt").exists()
