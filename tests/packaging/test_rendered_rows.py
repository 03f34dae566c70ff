"""Each batch renders its own workbook rows as it extracts them; the package step numbers and
copies them. The workbook must be the same bytes whichever batches rendered their rows, and a
batch whose rendered rows are missing or damaged is rendered from its spool instead."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from export_builders import demographics
from openpyxl import load_workbook

from exports import stages
from exports.packaging import package, rows
from exports.packaging.reconciliation import Tally
from exports.packaging.rendered_rows import batch_rows
from exports.packaging.spool import BatchSpool, CommittedBatch
from exports.sources.demo import DemoSource
from exports.sources.records import Payment

CONTEXT = stages.ExportContext(
    "Golden Practice", "golden", "EXP-7", date(2025, 7, 1), datetime(2025, 7, 1, 9, tzinfo=UTC)
)
#: test_deliverable_export's golden manifest: the demo practice below, before rendered rows
GOLDEN_MANIFEST_SHA256 = "33ffaccbbd1505d36e927408f2508f828169335540c52c2ca94af58c517f0b46"


@pytest.fixture
def demo():
    return DemoSource(patients=30, seed=7, large_document_bytes=65536)


@pytest.fixture
def staging(tmp_path, demo) -> Path:
    """The demo practice extracted in four batches, each having rendered its rows."""
    for number, ids in enumerate(stages.plan_batches(demo, 8), start=1):
        stages.run_batch(demo, CONTEXT, ids, tmp_path, number)
    return tmp_path


def package_demo(demo, staging: Path, **options):
    """The package step as ``stages.run_package`` runs it, with ``options``."""
    return package(
        staging,
        [1, 2, 3, 4],
        layout=CONTEXT.layout,
        counts_in_source=demo.counts_in_source(),
        unattached=demo.unattached_records(),
        outside_patients=demo.records_outside_patients(),
        excluded_outside_patients=demo.exclusions_outside_patients(),
        notes=demo.notes(),
        **options,
    )


def workbook_bytes(result) -> bytes:
    return (result.root.parent / CONTEXT.layout.workbook).read_bytes()


def rendered_folder(staging: Path, batch_no: int) -> Path:
    return CommittedBatch(staging, batch_no).run_dir / "rendered"


def test_batches_render_their_rows_and_the_deliverable_stays_byte_for_byte_the_same(demo, staging):
    for batch_no in (1, 2, 3, 4):
        assert sorted(rendered_folder(staging, batch_no).glob("*.rows"))

    packaged = package_demo(demo, staging)

    assert packaged.manifest_sha256 == GOLDEN_MANIFEST_SHA256


def test_the_package_step_takes_a_batchs_rendered_rows_without_reading_its_spooled_ones(
    demo, staging
):
    expected = workbook_bytes(package_demo(demo, staging))
    for spooled in (CommittedBatch(staging, 2).run_dir / "rows").glob("*.jsonl"):
        spooled.write_text("not rows\n", encoding="utf-8")

    assert workbook_bytes(package_demo(demo, staging)) == expected


def test_batches_without_rendered_rows_or_with_damaged_ones_are_rendered_from_their_spool(
    demo, staging
):
    shutil.rmtree(rendered_folder(staging, 1))
    patients = rendered_folder(staging, 3) / "patients.rows"
    patients.write_bytes(patients.read_bytes()[:-100])  # a partial file
    (rendered_folder(staging, 4) / "sheets.json").unlink()  # rows never listed as complete

    packaged = package_demo(demo, staging)

    assert packaged.manifest_sha256 == GOLDEN_MANIFEST_SHA256


def test_a_full_sheet_continues_on_the_next_whichever_batches_rendered_their_rows(demo, staging):
    unlimited = load_workbook(package_demo(demo, staging).root.parent / CONTEXT.layout.workbook)
    rendered = workbook_bytes(package_demo(demo, staging, max_rows_per_sheet=7))
    shutil.rmtree(rendered_folder(staging, 2))
    shutil.rmtree(rendered_folder(staging, 3))
    partly_from_spool = package_demo(demo, staging, max_rows_per_sheet=7)

    assert workbook_bytes(partly_from_spool) == rendered
    workbook = load_workbook(partly_from_spool.root.parent / CONTEXT.layout.workbook)
    patients = [workbook[title] for title in workbook.sheetnames if title.startswith("Patients")]
    assert [sheet.title for sheet in patients] == [
        "Patients",
        *(f"Patients ({n})" for n in (2, 3, 4, 5)),
    ]
    assert all(sheet.max_row <= 7 for sheet in patients)
    continued = [row for sheet in patients for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert continued == list(unlimited["Patients"].iter_rows(min_row=2, values_only=True))


def test_a_row_its_batch_cannot_render_fails_the_package_step_as_it_always_did(tmp_path):
    workbook_folder = CONTEXT.layout.workbook.parent
    payment = rows.payment_row(demographics(), Payment("p1", date(2024, 2, 1), True))  # type: ignore[arg-type]
    with BatchSpool(tmp_path, 1, workbook_folder) as spool:
        spool.add_row(rows.PATIENTS, rows.patient_row(demographics()))
        spool.add_row(rows.PATIENT_PAYMENTS, payment)  # a bool: no cell holds one
        spool.commit(Tally())
    batch = CommittedBatch(tmp_path, 1)

    assert len(list(batch_rows(batch, rows.PATIENTS, workbook_folder))) == 1
    with pytest.raises(TypeError, match="cannot hold a bool"):
        list(batch_rows(batch, rows.PATIENT_PAYMENTS, workbook_folder))


def plain_image_rows(staging: Path, batch_no: int, extra: list[str] | None = None) -> None:
    """Turn a batch's image-index rows back into what a run committed before this code wrote:
    plain CSV rows, no formula guard (a deploy in the middle of an export)."""
    run_dir = CommittedBatch(staging, batch_no).run_dir
    with (run_dir / "image_index.csv").open(encoding="utf-8", newline="") as rows:
        plain = [[value.removeprefix("'") for value in row] for row in csv.reader(rows)]
    (run_dir / "image_index.csv").unlink()
    with (run_dir / "images.csv").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(plain + ([extra] if extra else []))


def test_a_batch_committed_by_the_code_before_still_gives_the_same_image_index(demo, staging):
    plain_image_rows(staging, 2)

    assert package_demo(demo, staging).manifest_sha256 == GOLDEN_MANIFEST_SHA256


def test_a_batch_committed_by_the_code_before_gets_the_image_index_formula_guard(demo, staging):
    hostile = ["p-9", "c-9", '=HYPERLINK("x")', "Ann", "", "photo", "", "", "a.jpg", ""]
    plain_image_rows(staging, 3, extra=hostile)

    packaged = package_demo(demo, staging)

    index = (packaged.root.parent / CONTEXT.layout.image_index).read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in index
    assert "\n=HYPERLINK" not in index and ",=HYPERLINK" not in index
