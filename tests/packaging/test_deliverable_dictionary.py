"""The deliverable explains itself from one schema: its writers take their columns from
``deliverable_schema``, ``datapackage.json`` validates, ``SHA256SUMS`` verifies with the
machine's own tools, and ``Read me first.html`` says what is inside and what was left out."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from export_builders import (
    ListSource,
    build_ccd,
    full_patient,
    package_source,
    validate_ccd,
    validate_source_ccd,
    with_demographics,
)
from openpyxl import load_workbook

from exports.deliverable_schema import (
    CSV_TABLES,
    FORMAT_VERSION,
    IMAGE_INDEX,
    MANIFEST,
    RECONCILIATION,
    SHEETS,
    TABLES,
)
from exports.packaging import ExportLayout, extract_batch, package
from exports.packaging.batch import tree_dir
from exports.packaging.checksums import checksum_line
from exports.sources.records import Category, RecordExclusion
from tests.deliverable_checks import assert_deliverable_verifies, data_package_errors

HOSTILE_PRACTICE = 'Sunrise <script>alert("x")</script> & Sons'
LAYOUT = ExportLayout(HOSTILE_PRACTICE, date(2024, 5, 1))
CLINICAL = "Clinical Data Export"
EXCLUSION = RecordExclusion(Category.DOCUMENTS, "d-9", "a signed consent form (never exported)")


def export(staging: Path, *patients, max_rows_per_sheet: int = 1_048_576):
    source = ListSource(
        patients or [full_patient("1001"), full_patient("1002")], excluded=[EXCLUSION]
    )
    extract_batch(
        source,
        list(source.records),
        staging,
        1,
        layout=LAYOUT,
        ccda_builder=build_ccd,
        ccda_validator=validate_ccd,
        source_ccda_validator=validate_source_ccd,
    )
    return package_source(
        source, staging, [1], layout=LAYOUT, max_rows_per_sheet=max_rows_per_sheet
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export(tmp_path_factory.mktemp("dictionary")).root


def csv_header(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return tuple(next(csv.reader(handle)))


def test_every_writer_takes_its_columns_from_the_schema(exported):
    workbook = load_workbook(exported / CLINICAL / "Patient_Data_Export.xlsx", read_only=True)
    assert workbook.sheetnames == [sheet.name for sheet in SHEETS]
    for sheet in SHEETS:
        header = next(workbook[sheet.name].iter_rows(max_row=1, values_only=True))
        assert header == sheet.headers, sheet.name
    workbook.close()
    csv_files = {
        IMAGE_INDEX: exported / "Patient Images Export" / "patient_images_index.csv",
        MANIFEST: exported / CLINICAL / "manifest.csv",
        RECONCILIATION: exported / CLINICAL / "reconciliation.csv",
    }
    assert set(csv_files) == set(CSV_TABLES)
    for table, path in csv_files.items():
        assert csv_header(path) == table.headers, table.name


def test_the_data_package_describes_every_table_and_validates(exported):
    descriptor = json.loads((exported / "datapackage.json").read_text("utf-8"))
    resources = {resource["name"]: resource for resource in descriptor["resources"]}

    assert set(resources) == {table.key for table in TABLES}
    assert descriptor["version"] == descriptor["exportFormatVersion"] == FORMAT_VERSION
    for sheet in SHEETS:
        resource = resources[sheet.key]
        assert resource["format"] == "xlsx"
        assert resource["path"] == f"{CLINICAL}/Patient_Data_Export.xlsx"
        assert resource["dialect"]["excel"]["sheet"] == sheet.name
        assert [field["name"] for field in resource["schema"]["fields"]] == list(sheet.headers)
    codes = {
        field["name"]: field.get("codeSystem")
        for field in resources["medications"]["schema"]["fields"]
    }
    assert codes["RxNorm"] == "RxNorm"
    keyed = [name for name, resource in resources.items() if "foreignKeys" in resource["schema"]]
    assert set(keyed) == {table.key for table in TABLES if table.refers_to_patients}
    assert resources["patients"]["schema"]["primaryKey"] == ["Patient ID"]
    assert data_package_errors(exported) == []


def test_a_row_whose_patient_is_not_in_the_patients_sheet_fails_validation(tmp_path):
    root = export(tmp_path).root
    index = root / "Patient Images Export" / "patient_images_index.csv"
    content = index.read_bytes()
    assert b"\r\n1001," in content
    index.write_bytes(content.replace(b"\r\n1001,", b"\r\n9999,", 1))
    descriptor_path = root / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text("utf-8"))
    for resource in descriptor["resources"]:  # the file changed on purpose: only its key is wrong
        resource.pop("hash", None)
        resource.pop("bytes", None)
    descriptor_path.write_text(json.dumps(descriptor), "utf-8")

    errors = data_package_errors(root)

    assert [error[0] for error in errors] == ["foreign-key"]


def test_a_sheet_continued_on_more_worksheets_is_one_resource_each(tmp_path):
    root = export(tmp_path, full_patient("1001"), full_patient("1002"), full_patient("1003"),
                  max_rows_per_sheet=3).root  # fmt: skip
    descriptor = json.loads((root / "datapackage.json").read_text("utf-8"))
    titles = {resource["name"]: resource["title"] for resource in descriptor["resources"]}

    assert titles["patients-2"] == "Patients (2)"
    assert "foreignKeys" not in descriptor["resources"][0]["schema"]
    assert data_package_errors(root) == []


def test_sha256sums_covers_every_file_but_itself_and_verifies(exported):
    sums = (exported / CLINICAL / "SHA256SUMS").read_text("utf-8").splitlines()
    listed = {(exported / CLINICAL / line.split("  ", 1)[1]).resolve() for line in sums}
    in_tree = {path.resolve() for path in exported.rglob("*") if path.is_file()}

    assert listed == in_tree - {(exported / CLINICAL / "SHA256SUMS").resolve()}
    assert all(len(line.split("  ", 1)[0]) == 64 for line in sums)
    assert_deliverable_verifies(exported)


def test_a_changed_file_fails_sha256sum(tmp_path):
    root = export(tmp_path).root
    (root / "Read me first.html").write_text("changed", "utf-8")

    run = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=root / CLINICAL,
                         capture_output=True, text=True, check=False)  # fmt: skip

    assert run.returncode == 1
    assert "../Read me first.html: FAILED" in run.stdout


@pytest.mark.parametrize("command", [["sha256sum"], ["shasum", "-a", "256"]])
def test_names_with_spaces_backslashes_and_newlines_verify_by_gnus_escaping(tmp_path, command):
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    names = ["plain.txt", "with space.txt", "back\\slash.txt", "new\nline.txt", "Müller 李.txt"]
    if command == ["sha256sum"]:  # shasum 6 does not undo GNU's \r (our names never hold one)
        names.append("car\rriage.txt")
    lines = []
    for number, name in enumerate(names):
        (tmp_path / name).write_bytes(f"file {number}".encode())
        digest = subprocess.run(["sha256sum", "--", name], cwd=tmp_path, capture_output=True,
                                check=True).stdout.split()[0].decode().lstrip("\\")  # fmt: skip
        lines.append(checksum_line(digest, name))
    (tmp_path / "SHA256SUMS").write_text("".join(lines), "utf-8")

    run = subprocess.run([*command, "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True,
                         check=False)  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(b": OK") == len(names)
    assert lines[0] == f"{lines[0][:64]}  plain.txt\n"
    assert lines[2].startswith("\\") and lines[2].endswith("  back\\\\slash.txt\n")


def test_the_readme_says_what_is_inside_what_was_left_out_and_the_dictionary(exported, settings):
    html = (exported / "Read me first.html").read_text("utf-8")

    assert "<script" not in html.lower()
    assert "Sunrise &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    assert "a signed consent form (never exported): 1" in html
    assert "shasum -a 256 -c SHA256SUMS" in html and "sha256sum -c SHA256SUMS" in html
    assert "7-Zip" in html and "Keka" in html
    assert f"Format version {FORMAT_VERSION}" in html
    assert f'href="{settings.PORTAL_BASE_URL.rstrip("/")}/data-dictionary/"' in html
    for table in TABLES:
        assert f'id="table-{table.key}"' in html
        for column in table.columns:
            assert f'<th scope="row">{column.header}</th>' in html


def test_a_second_packaging_run_rewrites_the_describing_files(tmp_path):
    first = export(tmp_path)
    again = package(
        tmp_path,
        [1],
        layout=LAYOUT,
        counts_in_source=ListSource(
            [full_patient("1001"), full_patient("1002")], excluded=[EXCLUSION]
        ).counts_in_source(),
        unattached=(),
        excluded_outside_patients=[EXCLUSION],
    )
    assert again.files == first.files
    assert_deliverable_verifies(again.root)
    assert tree_dir(tmp_path) in again.root.parents


def test_patients_named_like_markup_stay_text(tmp_path):
    patient = with_demographics(full_patient("1001"), last_name="<b>O'Brien</b>")
    root = export(tmp_path, patient).root
    index = root / "Patient Images Export" / "patient_images_index.csv"
    rows = list(csv.DictReader(io.StringIO(index.read_text("utf-8-sig"))))
    assert rows and rows[0]["Last Name"] == "<b>O'Brien</b>"
    assert "O'Brien" not in (root / "Read me first.html").read_text("utf-8")
    assert data_package_errors(root) == []
