"""A worksheet's data rows as SpreadsheetML text: the bytes openpyxl's write-only mode writes
for the same cells, at a fraction of the cost.

openpyxl builds a cell object and an lxml element for every value (about 25 us a cell), which
made the workbook the slowest step of an export. Here a row is one string. Styles still come
from openpyxl: the first time a kind of cell needs one, a cell is built as openpyxl would build
it and its ``style_id`` is kept, so the workbook's style table is what openpyxl makes. Cells
follow openpyxl's rules: text as inline strings (``xml:space="preserve"`` when it has outer
whitespace; Excel's error codes as error cells), numbers printed with ``%.16g``, dates and
times as Excel serial numbers, everything past ASCII as character references.
tests/packaging/test_sheet_xml.py holds the bytes against openpyxl's.

Text is made safe here, without changing what the reader sees:

- Characters XML cannot hold (most C0 controls) are removed, the rest of the value is kept.
- Text longer than an Excel cell holds (32,767 characters) is cut with a visible marker
  saying how long it was, never silently.
- Text Excel would read as a formula (starting with ``= + - @``, tab or CR) is stored as a
  string cell with the *quote prefix* style, Excel's own way of marking text typed with a
  leading apostrophe: the cell shows the original text and stays text when edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from os import PathLike
from typing import TextIO

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.compat import safe_string
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from .cells import looks_like_formula, xml_text
from .rows import Column, Kind, Value

EXCEL_MAX_CELL_CHARS = 32_767
NUMBER_FORMATS = {
    Kind.DATE: "yyyy-mm-dd",
    Kind.DATETIME: "yyyy-mm-dd hh:mm",
    Kind.MONEY: "#,##0.00",
}
#: what lxml escapes in text (the file's codec turns everything past ASCII into references)
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def open_rows_file(path: str | PathLike[str]) -> TextIO:
    """A new file for ``RowWriter``: ASCII with character references, as openpyxl writes."""
    return open(path, "w", encoding="ascii", errors="xmlcharrefreplace", newline="")


class StyleIds:
    """The workbook's style id for each kind of styled cell, registered on first use."""

    def __init__(self, worksheet: WriteOnlyWorksheet) -> None:
        self._worksheet = worksheet  # any sheet of the workbook: styles are workbook-wide
        self._ids: dict[object, str | None] = {}

    def quote_prefix(self) -> str:
        if "quote-prefix" not in self._ids:
            cell = WriteOnlyCell(self._worksheet, "")
            cell.quotePrefix = True
            self._ids["quote-prefix"] = str(cell.style_id)
        return self._ids["quote-prefix"]  # type: ignore[return-value]

    def of(self, value: object, number_format: str | None) -> str | None:
        """The style of a number, date or time shown with ``number_format`` (openpyxl's
        default for dates and times when None); None when the cell needs no style."""
        key = (type(value), number_format)
        if key not in self._ids:
            cell = WriteOnlyCell(self._worksheet, value)
            if number_format is not None:
                cell.number_format = number_format
            self._ids[key] = str(cell.style_id) if cell.has_style else None
        return self._ids[key]


class RowWriter:
    """Writes rows of one sheet's columns to ``out`` as ``<row>`` elements."""

    def __init__(self, out: TextIO, columns: Sequence[Column], styles: StyleIds) -> None:
        self._out = out
        self._columns = [
            (get_column_letter(index), NUMBER_FORMATS.get(column.kind))
            for index, column in enumerate(columns, start=1)
        ]
        self._styles = styles

    def write(self, row_number: int, values: Sequence[Value]) -> None:
        """Row ``row_number`` (1 is the header's) holding ``values``, one per column."""
        cells = [f'<row r="{row_number}">']
        for (letter, number_format), value in zip(self._columns, values, strict=True):
            if value is None:
                continue
            reference = f"{letter}{row_number}"
            if isinstance(value, str):
                cells.append(self._text_cell(reference, value))
            else:
                cells.append(self._number_cell(reference, value, number_format))
        cells.append("</row>")
        self._out.write("".join(cells))

    def _text_cell(self, reference: str, value: str) -> str:
        text = fit_cell_text(xml_text(value))
        style = ""
        if looks_like_formula(text):
            style = f' s="{self._styles.quote_prefix()}"'
        elif text in ERROR_CODES:
            return f'<c r="{reference}" t="e"><v>{text}</v></c>'
        if not text:
            return f'<c r="{reference}"{style} t="inlineStr"></c>'
        space = ' xml:space="preserve"' if text != text.strip() else ""
        escaped = text.translate(_TEXT_ESCAPES)
        return f'<c r="{reference}"{style} t="inlineStr"><is><t{space}>{escaped}</t></is></c>'

    def _number_cell(self, reference: str, value: object, number_format: str | None) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | date):
            raise TypeError(f"a cell cannot hold a {type(value).__name__}")
        style = self._styles.of(value, number_format)
        style_attribute = "" if style is None else f' s="{style}"'
        if isinstance(value, date):
            if isinstance(value, datetime) and value.tzinfo is not None:
                raise TypeError("Excel has no time zones: give the wall time, without tzinfo")
            value = to_excel(value)
        return f'<c r="{reference}"{style_attribute} t="n"><v>{safe_string(value)}</v></c>'


def fit_cell_text(text: str) -> str:
    """``text``, or its start with a marker saying how long it was when a cell cannot hold
    it all."""
    if len(text) <= EXCEL_MAX_CELL_CHARS:
        return text
    marker = f" [cut: the full text has {len(text)} characters]"
    return text[: EXCEL_MAX_CELL_CHARS - len(marker)] + marker
