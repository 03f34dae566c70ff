"""``Patient_Data_Export.xlsx``, streamed: openpyxl's write-only workbook with rows from
``sheet_xml``.

Each sheet of ``rows.SHEETS`` in order, with a bold frozen header row, an autofilter, set
column widths and typed cells: dates and times are Excel dates with a date format, amounts and
vitals are numbers. A sheet that would pass Excel's 1,048,576 rows continues on
``"<name> (2)"``, ``"<name> (3)"``... each with its own header. Text is made safe without
changing what the reader sees (formula-like text quoted, XML-illegal characters removed, text
too long for a cell cut with a marker): see ``sheet_xml``.

openpyxl writes the workbook's parts and each sheet with its header row; the data rows, the
bulk of the file, are written by ``sheet_xml`` to a spool file per sheet (openpyxl's cells cost
~25 us each) and spliced into the sheet's part as the zip is written.

The file is reproducible: its document properties and zip entries carry the export's date, not
the time it was written, so the same export always gives the same bytes (and checksum).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.writer.excel import ExcelWriter

from .rows import SHEETS, Sheet, Value
from .sheet_xml import RowWriter, StyleIds, open_rows_file
from .tree import replacing

EXCEL_MAX_ROWS = 1_048_576

_BOLD = Font(bold=True)
#: where the data rows go in the part openpyxl writes for a sheet holding only its header
_END_OF_ROWS = b"</sheetData>"
_COPY_BYTES = 1024 * 1024

SheetRows = Callable[[Sheet], Iterable[Sequence[Value]]]


def write_workbook(
    path: Path,
    sheet_rows: SheetRows,
    *,
    export_date: date,
    max_rows: int = EXCEL_MAX_ROWS,
    work_dir: Path | None = None,
) -> int:
    """Write the workbook to ``path`` (atomically), asking ``sheet_rows`` for each sheet's rows;
    returns the number of data rows written.

    ``max_rows`` counts the header, as Excel does. ``export_date`` stamps the file. The rows
    are spooled in a temporary folder under ``work_dir`` (default: the system's) until the
    workbook is zipped.
    """
    if max_rows < 2:
        raise ValueError("a sheet needs room for its header and at least one row")
    workbook = Workbook(write_only=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as spool_dir:
        spooled: dict[WriteOnlyWorksheet, Path] = {}  # a worksheet -> its data rows
        styles: StyleIds | None = None
        written = 0
        for sheet in SHEETS:
            sheet_parts = _SheetParts(workbook, sheet, Path(spool_dir), max_rows, styles)
            styles = sheet_parts.styles
            try:
                for values in sheet_rows(sheet):
                    sheet_parts.append(values)
                    written += 1
            finally:
                spooled.update(sheet_parts.close())
        stamp = datetime(export_date.year, export_date.month, export_date.day)
        workbook.properties.created = workbook.properties.modified = stamp
        with replacing(path) as temp:
            # What openpyxl's save() does, minus stamping "now" on the properties and entries.
            ExcelWriter(workbook, _StampedZipFile(temp, stamp, spooled)).save()
    return written


class _SheetParts:
    """One sheet's worksheets (a continuation each ``max_rows`` rows) and their spooled rows."""

    def __init__(
        self,
        workbook: Workbook,
        sheet: Sheet,
        spool_dir: Path,
        max_rows: int,
        styles: StyleIds | None,  # the workbook's, made here for its first sheet
    ) -> None:
        self.workbook = workbook
        self.sheet = sheet
        self.spool_dir = spool_dir
        self.max_rows = max_rows
        self.styles = styles
        self.part = 0
        self.spooled: dict[WriteOnlyWorksheet, Path] = {}
        self._start()

    def append(self, values: Sequence[Value]) -> None:
        if self.used == self.max_rows:
            self._finish()
            self._start()
        self.used += 1
        self.rows.write(self.used, values)

    def close(self) -> dict[WriteOnlyWorksheet, Path]:
        """Finish the last worksheet; returns each worksheet's spooled rows."""
        self._finish()
        return self.spooled

    def _start(self) -> None:
        self.part += 1
        self.worksheet = _start_sheet(self.workbook, self.sheet, self.part)
        self.used = 1
        rows_path = self.spool_dir / f"{self.sheet.key}-{self.part}.xml"
        self.rows_file = open_rows_file(rows_path)
        self.spooled[self.worksheet] = rows_path
        if self.styles is None:
            self.styles = StyleIds(self.worksheet)
        self.rows = RowWriter(self.rows_file, self.sheet.columns, self.styles)

    def _finish(self) -> None:
        self.worksheet.auto_filter.ref = (
            f"A1:{get_column_letter(len(self.sheet.columns))}{self.used}"
        )
        self.rows_file.close()


class _StampedZipFile(ZipFile):
    """A zip whose every entry carries one fixed time, with the spooled data rows spliced
    into their sheets' parts."""

    def __init__(
        self, path: Path, stamp: datetime, spooled: dict[WriteOnlyWorksheet, Path]
    ) -> None:
        super().__init__(path, "w", ZIP_DEFLATED, allowZip64=True)
        self._date_time = stamp.timetuple()[:6]
        self._spooled = spooled

    def _info(self, arcname: str) -> ZipInfo:
        info = ZipInfo(arcname, date_time=self._date_time)
        info.compress_type = ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, *args, **kwargs) -> None:
        if not isinstance(zinfo_or_arcname, ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename, arcname=None, *args, **kwargs) -> None:
        arcname = arcname or filename
        # A worksheet's part name is known once the writer has numbered the sheets: now.
        rows = next(
            (rows for sheet, rows in self._spooled.items() if sheet.path[1:] == arcname), None
        )
        with open(filename, "rb") as source, self.open(self._info(arcname), "w") as target:
            if rows is None:
                shutil.copyfileobj(source, target, _COPY_BYTES)
                return
            # openpyxl's part holds the header row only: small enough to split in memory.
            head, end, tail = source.read().partition(_END_OF_ROWS)
            if not end:
                raise ValueError("openpyxl wrote a sheet without rows: cannot add its data")
            target.write(head)
            with rows.open("rb") as spooled_rows:
                shutil.copyfileobj(spooled_rows, target, _COPY_BYTES)
            target.write(end + tail)


def sheet_title(sheet: Sheet, part: int) -> str:
    return sheet.name if part == 1 else f"{sheet.name} ({part})"


def _start_sheet(workbook: Workbook, sheet: Sheet, part: int) -> WriteOnlyWorksheet:
    worksheet = workbook.create_sheet(sheet_title(sheet, part))
    for index, column in enumerate(sheet.columns, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = column.width
    worksheet.freeze_panes = "A2"
    header = []
    for column in sheet.columns:
        cell = WriteOnlyCell(worksheet, column.header)
        cell.font = _BOLD
        header.append(cell)
    worksheet.append(header)
    return worksheet
