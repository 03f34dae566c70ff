"""``Patient_Data_Export.xlsx``, streamed: an Office Open XML package (ECMA-376) written part by
part with the standard library's ``zipfile``.

Each sheet of ``deliverable_schema.SHEETS`` in order, with a bold frozen header row, an
autofilter, set column widths and typed cells: dates and times are Excel dates with a date
format, amounts and vitals are numbers. A sheet that would pass Excel's 1,048,576 rows (or its
65,530 hyperlinks) continues on ``"<name> (2)"``, ``"<name> (3)"``... each with its own header.
Text is made safe without changing what the reader sees (formula-like text quoted, XML-illegal
characters removed, text too long for a cell cut with a marker), and file paths are clickable
links relative to the workbook: see ``sheet_xml``.

Each sheet's rows go straight into its zip entry as they come; only its hyperlinks wait in two
spool files (they follow the rows in the sheet, and need a relationship part of their own), so
memory does not grow with the rows. The rows come rendered (``write_rendered_workbook``: the
package step's, mostly rendered by the batches, see ``rendered_rows``) or as values
(``write_workbook`` renders them); either way each is numbered as it is written, so a sheet
continues on the next wherever it fills, and the same rows give the same bytes. The workbook's
other parts are small and written last, once the sheets (and their continuations) are known.

The file is reproducible: its document properties and zip entries carry the export's date, not
the time it was written, so the same export always gives the same bytes (and checksum).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TextIO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from exports.deliverable_schema import SHEETS, Sheet

from .rows import Value
from .sheet_xml import (
    STYLES_XML,
    Link,
    RenderedRow,
    RowRenderer,
    attribute,
    column_letter,
    header_row,
)
from .tree import replacing

EXCEL_MAX_ROWS = 1_048_576
#: Excel's limit of hyperlinks on one worksheet (its "specifications and limits")
EXCEL_MAX_LINKS = 65_530
APPLICATION = "Export Portal"

SheetRows = Callable[[Sheet], Iterable[Sequence[Value]]]
RenderedSheetRows = Callable[[Sheet], Iterable[RenderedRow]]

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HYPERLINK = f"{_RELATIONSHIP}/hyperlink"
_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument"
_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class _WrittenSheet:
    title: str
    part: str  # the zip entry, e.g. "xl/worksheets/sheet3.xml"


def write_workbook(
    path: Path,
    sheet_rows: SheetRows,
    *,
    export_date: date,
    max_rows: int = EXCEL_MAX_ROWS,
    max_links: int = EXCEL_MAX_LINKS,
    work_dir: Path | None = None,
    link_base: PurePosixPath | None = None,
    sheets: Sequence[Sheet] = SHEETS,
) -> int:
    """Write the workbook to ``path`` (atomically), asking ``sheet_rows`` for each sheet's rows;
    returns the number of data rows written.

    ``max_rows`` counts the header, as Excel does; ``max_links`` bounds a sheet's hyperlinks.
    ``export_date`` stamps the file. Path columns
    link to their files relative to ``link_base``, the workbook's own folder as a path from the
    archive root (no links when None). The hyperlinks of a sheet wait in a temporary folder
    under ``work_dir`` (default: the system's) until its rows are written.
    """

    def rendered_rows(sheet: Sheet) -> Iterator[RenderedRow]:
        return map(RowRenderer(sheet.columns, link_base).render, sheet_rows(sheet))

    return write_rendered_workbook(
        path,
        rendered_rows,
        export_date=export_date,
        max_rows=max_rows,
        max_links=max_links,
        work_dir=work_dir,
        sheets=sheets,
    )


def write_rendered_workbook(
    path: Path,
    sheet_rows: RenderedSheetRows,
    *,
    export_date: date,
    max_rows: int = EXCEL_MAX_ROWS,
    max_links: int = EXCEL_MAX_LINKS,
    work_dir: Path | None = None,
    sheets: Sequence[Sheet] = SHEETS,
) -> int:
    """``write_workbook`` for rows already rendered (``RowRenderer``, with the same
    ``link_base``): each is numbered as it is written, on whichever sheet it lands."""
    if max_rows < 2:
        raise ValueError("a sheet needs room for its header and at least one row")
    stamp = (export_date.year, export_date.month, export_date.day, 0, 0, 0)
    written_rows = 0
    with (
        replacing(path) as temp,
        ZipFile(temp, "w", ZIP_DEFLATED) as package,
        tempfile.TemporaryDirectory(dir=work_dir) as spool_dir,
    ):
        written: list[_WrittenSheet] = []
        for sheet in sheets:
            sheet_writer = _SheetWriter(
                package, sheet, stamp, Path(spool_dir), max_rows, max_links, written
            )
            with sheet_writer:
                for row in sheet_rows(sheet):
                    sheet_writer.append(row)
                    written_rows += 1
        _write_package_parts(package, stamp, written, export_date)
    return written_rows


def _sheet_title(sheet: Sheet, part: int) -> str:
    return sheet.name if part == 1 else f"{sheet.name} ({part})"


class _SheetWriter:
    """One sheet's worksheets (a continuation each time one is full), written into the zip."""

    def __init__(
        self,
        package: ZipFile,
        sheet: Sheet,
        stamp: tuple[int, ...],
        spool_dir: Path,
        max_rows: int,
        max_links: int,
        written: list[_WrittenSheet],
    ) -> None:
        self._package = package
        self._sheet = sheet
        self._stamp = stamp
        self._spool_dir = spool_dir
        self._max_rows = max_rows
        self._max_links = max_links
        self._written = written
        self._part = 0

    def __enter__(self) -> _SheetWriter:
        self._start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self._finish()
        else:
            self._spools.close()
            self._entry_stack.close()

    def append(self, row: RenderedRow) -> None:
        if self._used == self._max_rows or self._links + row.link_bound > self._max_links:
            self._finish()
            self._start()
        self._used += 1
        number = str(self._used)
        self._out.write(row.numbered(number))
        for link in row.links:
            self._links += 1
            self._link_refs.write(
                f'<hyperlink ref="{link.column}{number}" r:id="rId{self._links}"/>'
            )
            self._relationships.write(_relationship(self._links, link))

    def _start(self) -> None:
        self._part += 1
        number = len(self._written) + 1
        self._entry = f"xl/worksheets/sheet{number}.xml"
        self._title = _sheet_title(self._sheet, self._part)
        self._spools = ExitStack()
        self._link_refs = self._spools.enter_context(self._spool(number, "links"))
        self._relationships = self._spools.enter_context(self._spool(number, "relationships"))
        self._entry_stack = ExitStack()
        self._out = self._entry_stack.enter_context(
            _text_entry(self._package, self._entry, self._stamp)
        )
        self._used = 1
        self._links = 0
        columns = self._sheet.columns
        self._out.write(
            f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIP}">'
            '<sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            "</sheetView></sheetViews>"
            '<sheetFormatPr defaultRowHeight="15"/><cols>'
            + "".join(
                f'<col min="{index}" max="{index}" width="{column.width}" customWidth="1"/>'
                for index, column in enumerate(columns, start=1)
            )
            + "</cols><sheetData>"
        )
        self._out.write(header_row(columns))

    def _finish(self) -> None:
        with self._spools:
            with self._entry_stack:
                last_column = column_letter(len(self._sheet.columns))
                self._out.write(f'</sheetData><autoFilter ref="A1:{last_column}{self._used}"/>')
                if self._links:
                    self._out.write("<hyperlinks>")
                    _copy_spool(self._link_refs, self._out)
                    self._out.write("</hyperlinks>")
                self._out.write(
                    '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5"'
                    ' footer="0.5"/></worksheet>'
                )
            if self._links:  # the sheet's entry is closed: zipfile writes one entry at a time
                rels = self._entry.replace("worksheets/", "worksheets/_rels/") + ".rels"
                with _text_entry(self._package, rels, self._stamp) as out:
                    out.write(f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">')
                    _copy_spool(self._relationships, out)
                    out.write("</Relationships>")
        self._written.append(_WrittenSheet(self._title, self._entry))

    @contextmanager
    def _spool(self, number: int, kind: str) -> Iterator[TextIO]:
        name = self._spool_dir / f"sheet{number}-{kind}.xml"
        with open(name, "w+", encoding="utf-8", newline="") as spool:
            yield spool
        name.unlink()


def _relationship(number: int, link: Link) -> str:
    return (
        f'<Relationship Id="rId{number}" Type="{_HYPERLINK}" Target="{attribute(link.target)}"'
        ' TargetMode="External"/>'
    )


def _copy_spool(spool: TextIO, out: TextIO) -> None:
    spool.seek(0)
    shutil.copyfileobj(spool, out, _BUFFER_BYTES)


@contextmanager
def _text_entry(package: ZipFile, name: str, stamp: tuple[int, ...]) -> Iterator[TextIO]:
    """A zip entry to write UTF-8 text to, in large chunks (each write is compressed)."""
    info = ZipInfo(name, date_time=stamp)
    info.compress_type = ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    with (
        package.open(info, "w") as entry,
        io.BufferedWriter(entry, _BUFFER_BYTES) as buffered,  # type: ignore[arg-type]
        io.TextIOWrapper(buffered, encoding="utf-8", newline="") as text,
    ):
        yield text


def _write_text(package: ZipFile, name: str, stamp: tuple[int, ...], text: str) -> None:
    with _text_entry(package, name, stamp) as out:
        out.write(text)


def _write_package_parts(
    package: ZipFile, stamp: tuple[int, ...], sheets: list[_WrittenSheet], export_date: date
) -> None:
    """The parts that list the sheets, and the document's properties."""
    worksheet_type = f"{_CONTENT_TYPE}.spreadsheetml.worksheet+xml"
    overrides = [
        ("/xl/workbook.xml", f"{_CONTENT_TYPE}.spreadsheetml.sheet.main+xml"),
        ("/xl/styles.xml", f"{_CONTENT_TYPE}.spreadsheetml.styles+xml"),
        ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
        ("/docProps/app.xml", f"{_CONTENT_TYPE}.extended-properties+xml"),
        *((f"/{sheet.part}", worksheet_type) for sheet in sheets),
    ]
    _write_text(
        package,
        "[Content_Types].xml",
        stamp,
        f'{_XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides)
        + "</Types>",
    )
    _write_text(
        package,
        "_rels/.rels",
        stamp,
        _relationships(
            [
                ("officeDocument", "xl/workbook.xml"),
                ("metadata/core-properties", "docProps/core.xml", _PACKAGE_RELATIONSHIPS),
                ("extended-properties", "docProps/app.xml"),
            ]
        ),
    )
    moment = f"{export_date.isoformat()}T00:00:00Z"
    _write_text(
        package,
        "docProps/core.xml",
        stamp,
        f"{_XML_DECLARATION}<cp:coreProperties"
        ' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:creator>{APPLICATION}</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{moment}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{moment}</dcterms:modified>'
        "</cp:coreProperties>",
    )
    _write_text(
        package,
        "docProps/app.xml",
        stamp,
        f'{_XML_DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/'
        'officeDocument/2006/extended-properties">'
        f"<Application>{APPLICATION}</Application></Properties>",
    )
    _write_text(
        package,
        "xl/workbook.xml",
        stamp,
        f'{_XML_DECLARATION}<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIP}">'
        "<bookViews><workbookView/></bookViews><sheets>"
        + "".join(
            f'<sheet name="{attribute(sheet.title)}" sheetId="{number}" r:id="rId{number}"/>'
            for number, sheet in enumerate(sheets, start=1)
        )
        + "</sheets></workbook>",
    )
    _write_text(
        package,
        "xl/_rels/workbook.xml.rels",
        stamp,
        _relationships(
            [
                *(("worksheet", sheet.part.removeprefix("xl/")) for sheet in sheets),
                ("styles", "styles.xml"),
            ]
        ),
    )
    _write_text(package, "xl/styles.xml", stamp, STYLES_XML)


def _relationships(targets: Sequence[tuple[str, ...]]) -> str:
    """A relationships part: ``(type, target)`` pairs of officeDocument relationship types, or
    ``(type, target, namespace)`` for another namespace's."""
    items = []
    for number, (kind, target, *namespace) in enumerate(targets, start=1):
        base = namespace[0] if namespace else _RELATIONSHIP
        items.append(f'<Relationship Id="rId{number}" Type="{base}/{kind}" Target="{target}"/>')
    return (
        f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">'
        f"{''.join(items)}</Relationships>"
    )
