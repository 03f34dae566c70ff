"""A worksheet as SpreadsheetML text (ECMA-376 Part 1, ``CT_Worksheet``), written as strings.

Building a cell object or an XML element for every value costs microseconds a cell (openpyxl:
about 25 us), which made the workbook the slowest step of an export; here a row is one string.
A row is rendered without its number (``RowRenderer`` gives a ``RenderedRow``, ``ROW_NUMBER``
where the number goes), so the batch that made it can render it long before it is known which
row of which sheet it will be; the workbook numbers it as it writes it.
Cells follow what spreadsheet writers commonly do, so every reader shows the same values: text
as inline strings (``xml:space="preserve"`` when it has outer whitespace; Excel's error codes as
error cells), numbers printed with ``%.16g``, dates and times as Excel serial numbers (the 1900
date system) with a date format. The styles the cells refer to are the fixed table ``STYLES``
(the workbook writes it as ``xl/styles.xml``).

Text is made safe here, without changing what the reader sees:

- Characters XML cannot hold (most C0 controls) are removed, the rest of the value is kept.
- Text longer than an Excel cell holds (32,767 characters) is cut with a visible marker
  saying how long it was, never silently.
- Text Excel would read as a formula (starting with ``= + - @``, tab or CR) is stored as a
  string cell with the *quote prefix* style, Excel's own way of marking text typed with a
  leading apostrophe: the cell shows the original text and stays text when edited.

A path column's cell is also a hyperlink to the file (``Link``): a relative reference from the
workbook's folder, so it works wherever the archive is unpacked. It is an external relationship
of the sheet, not a formula: the cell stays the (neutralised) text of the path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import quote

from exports.deliverable_schema import Column, Kind

from .cells import looks_like_formula, xml_text
from .rows import Value

EXCEL_MAX_CELL_CHARS = 32_767
NUMBER_FORMATS = {
    Kind.DATE: "yyyy-mm-dd",
    Kind.DATETIME: "yyyy-mm-dd hh:mm",
    Kind.MONEY: "#,##0.00",
}
#: Excel's error values: text equal to one is written as an error cell, as Excel reads it
ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))
#: what XML needs escaped in text, ``&`` first; CR as a reference so readers keep it
_TEXT_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;"}
)
_EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 0 of the 1900 date system (after its Feb 29)
_FIRST_CORRECT_DAY = date(1900, 3, 1)  # before it, serials count Excel's phantom 1900-02-29
#: characters a relative reference keeps as they are (RFC 3986 unreserved, and the separator)
_LINK_SAFE = "/-._~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9/\-._~ ]")
#: where a rendered row's number goes: U+0001 is a character XML 1.0 cannot hold, so no
#: value or header can contain it (``xml_text`` removes it) and one ``str.replace`` numbers
#: the row, however its cells and text are made
ROW_NUMBER = "\x01"


@dataclass(frozen=True, slots=True)
class Styles:
    """Indexes into the ``cellXfs`` table the workbook writes (``STYLES_XML``)."""

    header: str = "1"
    quote_prefix: str = "2"
    link: str = "3"
    link_quote_prefix: str = "4"
    date: str = "5"
    datetime: str = "6"
    money: str = "7"
    any_date: str = "8"  # a date or time in a column with no format of its own
    any_datetime: str = "9"


STYLES = Styles()
_FORMAT_STYLES = {
    NUMBER_FORMATS[Kind.DATE]: STYLES.date,
    NUMBER_FORMATS[Kind.DATETIME]: STYLES.datetime,
    NUMBER_FORMATS[Kind.MONEY]: STYLES.money,
}

STYLES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="3">'
    '<numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="166" formatCode="yyyy-mm-dd h:mm:ss"/>'
    "</numFmts>"
    '<fonts count="3">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><u/><sz val="11"/><color rgb="FF0563C1"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="10">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"'
    ' quotePrefix="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def column_letter(number: int) -> str:
    """``1`` -> ``A``, ``27`` -> ``AA``: a column's name in A1 references."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def attribute(text: str) -> str:
    """``text`` escaped for a double-quoted XML attribute."""
    return text.translate(_ATTRIBUTE_ESCAPES)


@dataclass(frozen=True, slots=True)
class Link:
    """A cell's hyperlink: the cell's column (its row is the row's) and the relative target
    (a URI reference)."""

    column: str
    target: str


@dataclass(frozen=True, slots=True)
class RenderedRow:
    """A ``<row>`` element without its number: ``ROW_NUMBER`` stands wherever the number goes
    (the row's ``r`` and every cell reference), so a row can be rendered before it is known
    which row of which sheet it will be."""

    xml: str
    links: tuple[Link, ...]
    #: what ``RowRenderer.links_in`` said of the row's values: the sheet's hyperlink budget
    #: counts this, not ``len(links)``
    link_bound: int

    def numbered(self, row_number: str) -> str:
        return self.xml.replace(ROW_NUMBER, row_number)


def relative_link(path_text: str, base: PurePosixPath) -> str | None:
    """The URI reference from the folder ``base`` to ``path_text`` (a path from the archive
    root), or None when the text is no path inside the same archive root.

    Only a path under ``base``'s root folder, of plain segments, gets a link, so a link never
    leaves the unpacked deliverable, never names a scheme (``:`` is percent-encoded) or a
    server, whatever the text holds.
    """
    segments = path_text.split("/")
    base_parts = base.parts
    if (
        segments[0] != base_parts[0]
        or "\\" in path_text
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        return None
    shared = 1
    while (
        shared < len(base_parts)
        and shared < len(segments) - 1
        and segments[shared] == base_parts[shared]
    ):
        shared += 1
    relative = "../" * (len(base_parts) - shared) + "/".join(segments[shared:])
    if _NEEDS_QUOTING.search(relative) is None:
        return relative.replace(" ", "%20")  # the common case, without quote()'s cost
    return quote(relative, safe=_LINK_SAFE)


def header_row(columns: Sequence[Column]) -> str:
    """Row 1: the columns' headers, bold."""
    cells = [
        f'<c r="{column_letter(index)}1" s="{STYLES.header}" t="inlineStr"><is><t>'
        f"{_escaped(xml_text(column.header))}</t></is></c>"
        for index, column in enumerate(columns, start=1)
    ]
    return f'<row r="1">{"".join(cells)}</row>'


class RowRenderer:
    """Renders rows of one sheet's columns as ``<row>`` elements, with the hyperlinks each
    row's path cells carry."""

    def __init__(self, columns: Sequence[Column], link_base: PurePosixPath | None = None) -> None:
        self._columns = [
            (column_letter(index), column.kind, NUMBER_FORMATS.get(column.kind))
            for index, column in enumerate(columns, start=1)
        ]
        self._link_base = link_base
        self._path_columns = [
            index for index, column in enumerate(columns) if column.kind is Kind.PATH
        ]

    def render(self, values: Sequence[Value]) -> RenderedRow:
        """The row holding ``values``, one per column, numbered ``ROW_NUMBER``."""
        cells = [f'<row r="{ROW_NUMBER}">']
        links: list[Link] = []
        for (letter, kind, number_format), value in zip(self._columns, values, strict=True):
            if value is None:
                continue
            reference = f"{letter}{ROW_NUMBER}"
            if isinstance(value, str):
                target = None
                if kind is Kind.PATH and self._link_base is not None:
                    target = relative_link(value, self._link_base)
                if target is not None:
                    links.append(Link(letter, target))
                cells.append(_text_cell(reference, value, linked=target is not None))
            else:
                cells.append(_number_cell(reference, value, number_format))
        cells.append("</row>")
        return RenderedRow("".join(cells), tuple(links), self._links_in(values))

    def _links_in(self, values: Sequence[Value]) -> int:
        """How many hyperlinks the row of ``values`` may have (an upper bound)."""
        if self._link_base is None:
            return 0
        return sum(1 for index in self._path_columns if values[index])


def _text_cell(reference: str, value: str, *, linked: bool) -> str:
    text = fit_cell_text(xml_text(value))
    style = ""
    if looks_like_formula(text):
        style = f' s="{STYLES.link_quote_prefix if linked else STYLES.quote_prefix}"'
    elif linked:
        style = f' s="{STYLES.link}"'
    elif text in ERROR_CODES:
        return f'<c r="{reference}" t="e"><v>{text}</v></c>'
    if not text:
        return f'<c r="{reference}"{style} t="inlineStr"></c>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    escaped = _escaped(text)
    return f'<c r="{reference}"{style} t="inlineStr"><is><t{space}>{escaped}</t></is></c>'


def _escaped(text: str) -> str:
    # Most text needs no escape: a scan for each character is much cheaper than str.translate,
    # which looks every character up.
    for char, reference in _TEXT_ESCAPES:
        if char in text:
            text = text.replace(char, reference)
    return text


def _number_cell(reference: str, value: object, number_format: str | None) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | date):
        raise TypeError(f"a cell cannot hold a {type(value).__name__}")
    if isinstance(value, date):
        if isinstance(value, datetime) and value.tzinfo is not None:
            raise TypeError("Excel has no time zones: give the wall time, without tzinfo")
        style = _FORMAT_STYLES.get(number_format or "") or (
            STYLES.any_datetime if isinstance(value, datetime) else STYLES.any_date
        )
        value = excel_serial(value)
    else:
        style = _FORMAT_STYLES.get(number_format or "")
    style_attribute = "" if style is None else f' s="{style}"'
    number = str(value) if isinstance(value, int) else "%.16g" % value  # noqa: UP031
    return f'<c r="{reference}"{style_attribute} t="n"><v>{number}</v></c>'


def excel_serial(moment: date) -> float | int:
    """A date or wall time as an Excel serial number (1900 date system)."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    delta = moment - _EXCEL_EPOCH
    days = delta.days
    if moment.date() < _FIRST_CORRECT_DAY:
        days -= 1  # Excel counts a 1900-02-29 that never was; serials before it are one less
    if not delta.seconds and not delta.microseconds:
        return days
    return days + (delta.seconds + delta.microseconds / 1e6) / 86_400


def fit_cell_text(text: str) -> str:
    """``text``, or its start with a marker saying how long it was when a cell cannot hold
    it all."""
    if len(text) <= EXCEL_MAX_CELL_CHARS:
        return text
    marker = f" [cut: the full text has {len(text)} characters]"
    return text[: EXCEL_MAX_CELL_CHARS - len(marker)] + marker
