"""Patient_Data_Export.xlsx read back as a customer would see it."""

from __future__ import annotations

import posixpath
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import unquote

import pytest
from export_builders import demographics
from openpyxl import load_workbook

from exports.deliverable_schema import SHEETS
from exports.packaging import rows
from exports.packaging.workbook import write_workbook

SHEET_NAMES = [
    "Patients",
    "Insurance History",
    "Patient Payments",
    "Medications",
    "Allergies",
    "Problems",
    "Appointments",
    "Signed Clinical Notes",
    "Uploaded Documents",
    "Lab Results",
    "Integration Lab Results",
    "Message Center",
    "Faxes and Referrals",
    "CCDA Files",
]


EXPORT_DATE = date(2026, 11, 23)


def test_the_same_rows_always_give_the_same_bytes(tmp_path):
    rows = {"payments": [payment("p1")]}
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        write_workbook(
            folder / "w.xlsx", lambda sheet: rows.get(sheet.key, []), export_date=EXPORT_DATE
        )
    assert (first / "w.xlsx").read_bytes() == (second / "w.xlsx").read_bytes()
    assert load_workbook(first / "w.xlsx").properties.created.date() == EXPORT_DATE


def write(tmp_path, sheet_rows: dict[str, list], **options):
    path = tmp_path / "Patient_Data_Export.xlsx"
    options.setdefault("export_date", EXPORT_DATE)
    write_workbook(path, lambda sheet: sheet_rows.get(sheet.key, []), **options)
    return load_workbook(path)


def payment(payment_id: str, patient=None):
    from exports.sources.records import Payment

    return rows.payment_row(
        patient or demographics(),
        Payment(id=payment_id, received_date=date(2024, 2, 1), amount=Decimal("25.50")),
    )


def test_it_has_one_sheet_per_category_in_contract_order_with_bold_frozen_filtered_headers(
    tmp_path,
):
    workbook = write(tmp_path, {})
    assert workbook.sheetnames == SHEET_NAMES
    patients = workbook["Patients"]
    assert [cell.value for cell in patients[1]][:4] == [
        "Patient ID",
        "Chart ID",
        "Last Name",
        "First Name",
    ]
    assert all(cell.font.bold for cell in patients[1])
    assert patients.freeze_panes == "A2"
    assert patients.auto_filter.ref.startswith("A1:")
    assert patients.column_dimensions["A"].width == 12


def test_every_sheet_names_the_patient_first():
    for sheet in SHEETS:
        headers = [column.header for column in sheet.columns[:4]]
        assert headers == ["Patient ID", "Chart ID", "Last Name", "First Name"]


def test_dates_are_dates_and_amounts_are_numbers(tmp_path):
    patient = demographics(date_of_death=date(2023, 9, 30))
    workbook = write(
        tmp_path, {"patients": [rows.patient_row(patient)], "patient_payments": [payment("p1")]}
    )
    patients = workbook["Patients"]
    header = [cell.value for cell in patients[1]]
    born = patients.cell(row=2, column=header.index("Date of Birth") + 1)
    assert born.value == datetime(1980, 4, 2)
    assert born.is_date
    assert born.number_format == "yyyy-mm-dd"
    payments = workbook["Patient Payments"]
    amount = payments.cell(row=2, column=7)
    assert payments.cell(row=1, column=7).value == "Amount"
    assert amount.value == 25.5
    assert amount.data_type == "n"


def test_text_excel_would_run_as_a_formula_stays_visible_text(tmp_path):
    dangerous = ['=HYPERLINK("http://x","y")', "+1+2", "-3", "@SUM(A1)", "\tTab", "\rCR"]
    patients = [
        rows.patient_row(demographics(id=str(n), last_name=text))
        for n, text in enumerate(dangerous)
    ]
    sheet = write(tmp_path, {"patients": patients})["Patients"]
    for row, text in enumerate(dangerous, start=2):
        cell = sheet.cell(row=row, column=3)
        assert cell.value == text
        assert cell.data_type == "s"
        assert cell.quotePrefix


def test_xml_illegal_characters_are_removed_and_the_rest_kept(tmp_path):
    patient = demographics(last_name="Sm\x00it\x08h\x1f", first_name="Ja\x0bne\ud800\uffff")
    sheet = write(tmp_path, {"patients": [rows.patient_row(patient)]})["Patients"]
    assert sheet.cell(row=2, column=3).value == "Smith"
    assert sheet.cell(row=2, column=4).value == "Jane"


def test_a_value_too_long_for_a_cell_is_cut_with_a_visible_marker(tmp_path):
    patient = demographics(email="x" * 40_000)
    sheet = write(tmp_path, {"patients": [rows.patient_row(patient)]})["Patients"]
    header = [cell.value for cell in sheet[1]]
    email = sheet.cell(row=2, column=header.index("Email") + 1).value
    assert len(email) == 32_767
    assert email.endswith("[cut: the full text has 40000 characters]")


def test_a_full_sheet_continues_on_a_numbered_sheet_with_its_own_header(tmp_path):
    payments = [payment(f"p{n}") for n in range(7)]
    workbook = write(tmp_path, {"patient_payments": payments}, max_rows=3)
    assert workbook.sheetnames[2:6] == [
        "Patient Payments",
        "Patient Payments (2)",
        "Patient Payments (3)",
        "Patient Payments (4)",
    ]
    assert workbook.sheetnames[6] == "Medications"
    ids = []
    for name in workbook.sheetnames[2:6]:
        sheet = workbook[name]
        assert sheet.cell(row=1, column=5).value == "Payment ID"
        assert sheet.max_row <= 3
        ids += [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [f"p{n}" for n in range(7)]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="patients row"):
        rows.encode_row(rows.PATIENTS, ("only", "three", "values"))


def test_rows_survive_the_spool_encoding_with_their_types():
    original = list(payment("p1"))
    assert (
        rows.decode_row(rows.PATIENT_PAYMENTS, rows.encode_row(rows.PATIENT_PAYMENTS, original))
        == original
    )
    note = rows.CCDA_FILES
    encoded = rows.encode_row(note, ("1", "C", "S", "J", date(2024, 5, 1), "x", "p", "exported"))
    assert rows.decode_row(note, encoded)[4] == date(2024, 5, 1)


# --- file paths are links ------------------------------------------------------------------

ROOT = "Sunrise_Data_Export_2026-11-23"
WORKBOOK_FOLDER = PurePosixPath(ROOT) / "Clinical Data Export"


def document(document_id: str, path: str):
    from exports.sources.records import Document

    row = rows.document_row(
        demographics(),
        Document(id=document_id, date=date(2024, 2, 1), description="letter"),
        PurePosixPath("placeholder"),
        rows.EXPORTED,
    )
    return tuple(path if value == "placeholder" else value for value in row)  # text as given


def test_a_file_path_is_a_link_relative_to_the_workbook_that_resolves_to_the_file(tmp_path):
    note = f"{ROOT}/Clinical Data Export/Patient Records/1001_S_Smith_Jane_1980-04-02/doc 1#.pdf"
    photo = f"{ROOT}/Patient Images Export/1001_S_Smith_Jane_1980-04-02/patient_photo.jpg"
    workbook = write(
        tmp_path,
        {"uploaded_documents": [document("d1", note), document("d2", photo)]},
        link_base=WORKBOOK_FOLDER,
    )
    sheet = workbook["Uploaded Documents"]
    column = [cell.value for cell in sheet[1]].index("File Path") + 1
    cells = [sheet.cell(row=row, column=column) for row in (2, 3)]

    assert [cell.value for cell in cells] == [note, photo]  # the text is still the path
    targets = [cell.hyperlink.target for cell in cells]
    assert targets == [
        "Patient%20Records/1001_S_Smith_Jane_1980-04-02/doc%201%23.pdf",
        "../Patient%20Images%20Export/1001_S_Smith_Jane_1980-04-02/patient_photo.jpg",
    ]
    for cell, target in zip(cells, targets, strict=True):
        unpacked = posixpath.normpath(posixpath.join(str(WORKBOOK_FOLDER), unquote(target)))
        assert unpacked == cell.value
        assert cell.font.u == "single"


def test_without_a_link_base_paths_are_plain_text(tmp_path):
    path = f"{ROOT}/Clinical Data Export/Patient Records/x/1.pdf"
    sheet = write(tmp_path, {"uploaded_documents": [document("d1", path)]})["Uploaded Documents"]
    assert all(cell.hyperlink is None for cell in sheet[2])


def test_a_formula_like_path_stays_quoted_text_and_links_nowhere_outside(tmp_path):
    hostile = ['=HYPERLINK("http://evil.example","x")', "http://evil.example/a.pdf"]
    workbook = write(
        tmp_path,
        {"uploaded_documents": [document(f"d{n}", text) for n, text in enumerate(hostile)]},
        link_base=WORKBOOK_FOLDER,
    )
    sheet = workbook["Uploaded Documents"]
    column = [cell.value for cell in sheet[1]].index("File Path") + 1
    formula, url = (sheet.cell(row=row, column=column) for row in (2, 3))
    assert (formula.value, formula.data_type, formula.quotePrefix) == (hostile[0], "s", True)
    assert formula.hyperlink is None and url.hyperlink is None
    assert url.value == hostile[1]


def test_a_sheet_continues_before_it_passes_excels_limit_of_links(tmp_path):
    paths = [f"{ROOT}/Clinical Data Export/Patient Records/x/{n}.pdf" for n in range(5)]
    workbook = write(
        tmp_path,
        {"uploaded_documents": [document(f"d{n}", p) for n, p in enumerate(paths)]},
        link_base=WORKBOOK_FOLDER,
        max_links=2,
    )
    names = [name for name in workbook.sheetnames if name.startswith("Uploaded Documents")]
    assert names == ["Uploaded Documents", "Uploaded Documents (2)", "Uploaded Documents (3)"]
    linked = [
        cell.value
        for name in names
        for row in workbook[name].iter_rows(min_row=2)
        for cell in row
        if cell.hyperlink is not None
    ]
    assert linked == paths
