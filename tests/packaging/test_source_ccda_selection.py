"""Which C-CDA a patient gets, with the real checks of the source's own document: shipped
when it is about the patient and valid; kept as received beside ours when it is about the
patient but fails validation; never filed under the patient when it is about someone else."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from export_builders import (
    BytesBlob,
    ListSource,
    build_ccd,
    full_patient,
    package_source,
    validate_ccd,
)
from openpyxl import load_workbook

from exports.ccda import check_source_ccda
from exports.packaging import ExportLayout, extract_batch
from exports.packaging.batch import tree_dir
from tests.fakes.drchrono_server import ccda_document

LAYOUT = ExportLayout("Sunrise Pediatrics", date(2024, 5, 1))
CCDA_FOLDER = "Sunrise Pediatrics_Data_Export_2024-05-01/Clinical Data Export/CCDA Files"
FILE_NAME = "1001_SMJO000001_Smith_Jane_1980-04-02.xml"
JANE = {
    "id": "1001",
    "first_name": "Jane",
    "last_name": "Smith",
    "date_of_birth": "1980-04-02",
    "gender": "",
}


def export_with_source_ccda(staging: Path, document: bytes, runs: int = 1):
    record = full_patient("1001")
    record.ccda = BytesBlob(document, "xml")
    source = ListSource([record])
    for _ in range(runs):
        extract_batch(
            source,
            ["1001"],
            staging,
            1,
            layout=LAYOUT,
            ccda_builder=build_ccd,
            ccda_validator=validate_ccd,
            source_ccda_validator=check_source_ccda,
        )
    return package_source(source, staging, [1], layout=LAYOUT)


def ccda_rows(result) -> list[dict]:
    workbook = load_workbook(result.root / "Clinical Data Export" / "Patient_Data_Export.xlsx")
    values = list(workbook["CCDA Files"].iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def ccda_files(staging: Path) -> dict[str, bytes]:
    folder = tree_dir(staging) / CCDA_FOLDER
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def manifest_paths(result) -> set[str]:
    manifest = result.root / "Clinical Data Export" / "manifest.csv"
    return {row["Path"] for row in csv.DictReader(io.StringIO(manifest.read_text("utf-8-sig")))}


def test_the_sources_valid_document_about_the_patient_ships_as_it_is(tmp_path):
    document = ccda_document(JANE)
    result = export_with_source_ccda(tmp_path, document)

    assert ccda_files(tmp_path) == {FILE_NAME: document}
    ((row),) = ccda_rows(result)
    assert (row["Category"], row["Export Status"]) == ("C-CDA from the source EHR", "exported")
    line = result.reconciliation.line("source_ccdas")
    assert (line.in_source, line.exported, line.excluded) == (1, 1, 0)


def test_a_document_about_another_patient_gives_way_to_ours_and_is_not_filed(tmp_path):
    someone_else = ccda_document({**JANE, "id": "2002", "date_of_birth": "1975-07-04"})
    result = export_with_source_ccda(tmp_path, someone_else)

    assert ccda_files(tmp_path) == {FILE_NAME: build_ccd(full_patient("1001"))}
    why = "it is not about this patient (birth date differs, id differs)"
    ((row),) = ccda_rows(result)
    assert row["Category"] == "C-CDA R2.1 CCD"
    assert row["Export Status"] == f"exported (generated; the source's C-CDA was not used: {why})"
    reconciliation = result.reconciliation
    assert reconciliation.is_balanced
    assert not reconciliation.has_failures
    line = reconciliation.line("source_ccdas")
    assert (line.in_source, line.exported) == (1, 0)
    assert line.excluded_reasons == {f"not used: {why}": 1}
    assert reconciliation.line("ccda_files").exported == 1


def test_a_document_failing_the_schematron_is_kept_as_received_beside_ours(tmp_path):
    document = ccda_document(JANE, passes_schematron=False)
    result = export_with_source_ccda(tmp_path, document)

    kept = f"As received from the EHR/{FILE_NAME}"
    assert ccda_files(tmp_path) == {FILE_NAME: build_ccd(full_patient("1001")), kept: document}
    why = "it fails the C-CDA R2.1 Schematron errors phase (6 problems)"
    ours, theirs = sorted(ccda_rows(result), key=lambda row: row["File Path"])
    assert ours["File Path"] == f"{CCDA_FOLDER}/{FILE_NAME}"
    assert ours["Export Status"] == (
        f"exported (generated; the source's C-CDA was not used: {why};"
        " kept in As received from the EHR/)"
    )
    assert theirs["File Path"] == f"{CCDA_FOLDER}/{kept}"
    assert theirs["Category"] == "C-CDA as received from the EHR (not valid)"
    assert theirs["Export Status"] == (
        f"exported (kept as received; not shipped as the patient's C-CDA: {why})"
    )
    assert {ours["File Path"], theirs["File Path"]} <= manifest_paths(result)
    reconciliation = result.reconciliation
    assert reconciliation.is_balanced
    assert reconciliation.line("ccda_files").exported == 1
    line = reconciliation.line("source_ccdas")
    assert (line.in_source, line.exported, line.excluded) == (1, 1, 0)


def test_a_re_run_after_the_source_fixed_its_document_leaves_no_stale_copy(tmp_path):
    export_with_source_ccda(tmp_path, ccda_document(JANE, passes_schematron=False))
    result = export_with_source_ccda(tmp_path, ccda_document(JANE))

    assert list(ccda_files(tmp_path)) == [FILE_NAME]
    assert len(ccda_rows(result)) == 1


def test_a_re_run_with_the_same_document_keeps_one_copy_under_the_same_names(tmp_path):
    result = export_with_source_ccda(tmp_path, ccda_document(JANE, valid=False), runs=2)

    assert sorted(ccda_files(tmp_path)) == [FILE_NAME, f"As received from the EHR/{FILE_NAME}"]
    assert len(ccda_rows(result)) == 2
