"""The workbook's cells are written by ``sheet_xml`` as SpreadsheetML text: read back by
openpyxl, they must be the cells openpyxl itself writes for the same values (value, type, number
format, quote prefix), whatever the values."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from exports.deliverable_schema import Column, Kind, Sheet
from exports.packaging.cells import looks_like_formula, xml_text
from exports.packaging.sheet_xml import (
    NUMBER_FORMATS,
    RowRenderer,
    excel_serial,
    fit_cell_text,
    relative_link,
)
from exports.packaging.workbook import write_workbook

COLUMNS = (
    Column("Text"),
    Column("Date", Kind.DATE),
    Column("Time", Kind.DATETIME),
    Column("Count", Kind.NUMBER),
    Column("Amount", Kind.MONEY),
)
SHEET = Sheet("test", "Test", "A sheet for these tests.", COLUMNS)

texts = st.one_of(
    st.text(),
    st.sampled_from(["", " ", "=SUM(A1)", "=", "+1", "-2", "@x", "\tx", "\rx", "#N/A", "#REF!"]),
    st.text(alphabet="&<>\"'\r\n\t \x00\x1f\u00e9\u4e2d\U0001f600=+-@#"),
)
dates = st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31))
times = st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31))
counts = st.one_of(st.integers(-(10**15), 10**15), st.decimals(-(10**6), 10**6, places=2))
amounts = st.decimals(-(10**9), 10**9, places=2)
rows = st.lists(
    st.tuples(
        st.none() | texts,
        st.none() | dates,
        st.none() | times,
        st.none() | counts,
        st.none() | amounts,
    ),
    min_size=1,
    max_size=6,
)


def openpyxl_cell(worksheet, column: Column, value):
    """What the workbook handed openpyxl for each value before ``sheet_xml`` existed."""
    if value is None:
        return None
    if isinstance(value, str):
        text = fit_cell_text(xml_text(value))
        if not looks_like_formula(text):
            return text
        cell = WriteOnlyCell(worksheet, text)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell
    number_format = NUMBER_FORMATS.get(column.kind)
    if number_format is None:
        return value
    cell = WriteOnlyCell(worksheet, value)
    cell.number_format = number_format
    return cell


def cells_read_back(data: bytes) -> list[list[tuple]]:
    """Every data cell as a reader sees it: value, type, number format, quote prefix."""
    worksheet = load_workbook(io.BytesIO(data))["Test"]
    return [
        [
            (cell.value, cell.data_type, cell.number_format, cell.quotePrefix)
            for cell in row
            if cell.value is not None
        ]
        for row in worksheet.iter_rows(min_row=2)
    ]


def by_openpyxl(values_rows) -> bytes:
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet("Test")
    worksheet.append([column.header for column in COLUMNS])
    for values in values_rows:
        worksheet.append(
            [openpyxl_cell(worksheet, col, v) for col, v in zip(COLUMNS, values, strict=True)]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def by_sheet_xml(values_rows, tmp_path) -> bytes:
    path = tmp_path / "w.xlsx"
    write_workbook(path, lambda sheet: values_rows, export_date=date(2026, 1, 2), sheets=[SHEET])
    return path.read_bytes()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(values_rows=rows)
def test_cells_read_back_as_the_cells_openpyxl_writes_for_any_values(values_rows, tmp_path):
    assert cells_read_back(by_sheet_xml(values_rows, tmp_path)) == cells_read_back(
        by_openpyxl(values_rows)
    )


def test_formula_like_text_keeps_its_quote_prefix_and_dates_their_formats(tmp_path):
    values_rows = [
        ("=formula", date(2020, 1, 2), None, 3, Decimal("1.50")),
        ("plain", None, datetime(2020, 1, 2, 3, 4), Decimal("2.5"), None),
    ]
    assert cells_read_back(by_sheet_xml(values_rows, tmp_path)) == cells_read_back(
        by_openpyxl(values_rows)
    )


@pytest.mark.parametrize(
    ("moment", "serial"),
    [
        (date(1900, 1, 1), 1),  # Excel's first day
        (date(1900, 2, 28), 59),
        (date(1900, 3, 1), 61),  # after the 1900-02-29 Excel counts
        (datetime(2024, 1, 1, 12, 0), 45292.5),
    ],
)
def test_dates_are_excel_serial_numbers(moment, serial):
    assert excel_serial(moment) == serial


def test_text_past_a_cells_limit_is_cut_with_a_marker():
    row = RowRenderer(COLUMNS[:1]).render(["x" * 40_000])
    marker = " [cut: the full text has 40000 characters]"
    assert f"<t>{'x' * (32_767 - len(marker))}{marker}</t>" in row.xml


@pytest.mark.parametrize("value", [True, 1.5j, datetime(2020, 1, 1, tzinfo=UTC)])
def test_values_excel_cannot_hold_are_refused(value):
    renderer = RowRenderer((Column("Time", Kind.DATETIME),))
    with pytest.raises(TypeError):
        renderer.render([value])


BASE = PurePosixPath("Practice_Data_Export_2026-01-02/Clinical Data Export")


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (
            "Practice_Data_Export_2026-01-02/Clinical Data Export/Patient Records/1_C1/a#1.pdf",
            "Patient%20Records/1_C1/a%231.pdf",
        ),
        (
            "Practice_Data_Export_2026-01-02/Patient Images Export/1_C1/patient_photo.jpg",
            "../Patient%20Images%20Export/1_C1/patient_photo.jpg",
        ),
        ("Practice_Data_Export_2026-01-02/Clinical Data Export/é:x", "%C3%A9%3Ax"),
    ],
)
def test_a_path_links_relative_to_the_workbook_folder_percent_encoded(path, target):
    assert relative_link(path, BASE) == target


@pytest.mark.parametrize(
    "text",
    [
        "",
        "http://evil.example/x",
        "file:///etc/passwd",
        "Other_Root/Clinical Data Export/x.pdf",
        "Practice_Data_Export_2026-01-02/../../x.pdf",
        "Practice_Data_Export_2026-01-02//server/share",
        "Practice_Data_Export_2026-01-02\\Clinical Data Export\\x.pdf",
        '=HYPERLINK("http://evil.example")',
    ],
)
def test_text_that_is_no_path_inside_the_archive_gets_no_link(text):
    assert relative_link(text, BASE) is None
