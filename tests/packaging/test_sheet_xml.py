"""The workbook's data rows are written by ``sheet_xml``, not openpyxl: the file must be the
one openpyxl writes for the same cells, byte for byte, whatever the values."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zipfile import ZipFile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from exports.packaging.cells import looks_like_formula, xml_text
from exports.packaging.rows import Column, Kind, Sheet
from exports.packaging.sheet_xml import NUMBER_FORMATS, RowWriter, StyleIds, fit_cell_text

COLUMNS = (
    Column("Text"),
    Column("Date", Kind.DATE),
    Column("Time", Kind.DATETIME),
    Column("Count", Kind.NUMBER),
    Column("Amount", Kind.MONEY),
)
SHEET = Sheet("test", "Test", COLUMNS)

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


def saved_parts(workbook: Workbook) -> dict[str, bytes]:
    out = io.BytesIO()
    workbook.save(out)
    with ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist() if "docProps" not in name}


def by_openpyxl(values_rows) -> dict[str, bytes]:
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet("Test")
    for values in values_rows:
        worksheet.append(
            [openpyxl_cell(worksheet, col, v) for col, v in zip(COLUMNS, values, strict=True)]
        )
    return saved_parts(workbook)


def by_sheet_xml(values_rows) -> dict[str, bytes]:
    """The same workbook, rows from ``RowWriter`` spliced where openpyxl's would be."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet("Test")
    out = io.StringIO()
    writer = RowWriter(out, COLUMNS, StyleIds(worksheet))
    for number, values in enumerate(values_rows, start=1):
        writer.write(number, values)
    parts = saved_parts(workbook)
    rows_xml = out.getvalue().encode("ascii", "xmlcharrefreplace")
    empty_sheet = parts["xl/worksheets/sheet1.xml"]
    assert empty_sheet.count(b"<sheetData></sheetData>") == 1
    parts["xl/worksheets/sheet1.xml"] = empty_sheet.replace(
        b"<sheetData></sheetData>", b"<sheetData>" + rows_xml + b"</sheetData>"
    )
    return parts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
def test_rows_are_the_bytes_openpyxl_writes_for_any_values(values_rows):
    assert by_sheet_xml(values_rows) == by_openpyxl(values_rows)


def test_styles_are_registered_in_the_order_cells_first_need_them():
    values_rows = [
        ("=formula", date(2020, 1, 2), None, 3, Decimal("1.50")),
        ("plain", None, datetime(2020, 1, 2, 3, 4), Decimal("2.5"), None),
    ]
    assert by_sheet_xml(values_rows) == by_openpyxl(values_rows)


def test_text_past_a_cells_limit_is_cut_with_a_marker():
    out = io.StringIO()
    worksheet = Workbook(write_only=True).create_sheet("Test")
    RowWriter(out, COLUMNS[:1], StyleIds(worksheet)).write(2, ["x" * 40_000])
    marker = " [cut: the full text has 40000 characters]"
    assert f"<t>{'x' * (32_767 - len(marker))}{marker}</t>" in out.getvalue()


@pytest.mark.parametrize("value", [True, 1.5j, datetime(2020, 1, 1, tzinfo=UTC)])
def test_values_excel_cannot_hold_are_refused(value):
    worksheet = Workbook(write_only=True).create_sheet("Test")
    writer = RowWriter(io.StringIO(), (Column("Time", Kind.DATETIME),), StyleIds(worksheet))
    with pytest.raises(TypeError):
        writer.write(2, [value])
