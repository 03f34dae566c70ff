from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from deliverable_helpers import CommandRun, demo_export_args, run_export_command

from exports.sources.demo import HARD_CASE_PATIENTS, DemoSource

#: every hard case sits among the first eleven patients; one more is an ordinary patient
DEMO_PATIENTS = max(index for indexes in HARD_CASE_PATIENTS.values() for index in indexes) + 2
DEMO_SEED = 7
LARGE_DOCUMENT_BYTES = 65536


@dataclass(frozen=True)
class DemoExport:
    run: CommandRun
    work_dir: Path
    source: DemoSource  # the same practice, read independently by the tests

    @property
    def archive(self) -> Path:
        (archive,) = self.run.archives()
        return archive

    @property
    def password_file(self) -> Path:
        return self.work_dir / "archive-password.txt"

    @property
    def password(self) -> str:
        return self.password_file.read_text(encoding="ascii").strip()

    @property
    def tree(self) -> Path:
        """The deliverable's root folder, kept by ``--keep-tree``."""
        return self.run.kept_tree()


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory) -> DemoExport:
    """A demo practice holding every hard case, exported once by the command, as the data
    team runs it: two worker processes, batches of four, the tree kept for inspection."""
    work_dir = tmp_path_factory.mktemp("demo-export")
    args = demo_export_args(
        work_dir,
        patients=DEMO_PATIENTS,
        seed=DEMO_SEED,
        large_document_bytes=LARGE_DOCUMENT_BYTES,
    )
    run = run_export_command(work_dir, *args, "--workers=2", "--batch-size=4", "--keep-tree")
    source = DemoSource(
        patients=DEMO_PATIENTS, seed=DEMO_SEED, large_document_bytes=LARGE_DOCUMENT_BYTES
    )
    return DemoExport(run=run, work_dir=work_dir, source=source)
