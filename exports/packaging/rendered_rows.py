"""Workbook rows rendered to SpreadsheetML by the batch that made them, so the package step only
numbers and copies them.

Rendering a row (``RowRenderer``: escaping, formula quoting, Excel serials, links) is most of the
workbook's cost. A batch's process renders each row as it spools it (``RenderedRowsWriter``,
from ``BatchSpool.add_row``), on whichever core runs the batch, while other batches are still
being extracted. A row's number depends on the rows of every earlier batch and on where a sheet
continues (``max_rows_per_sheet``), so it is rendered with ``ROW_NUMBER`` where its number goes
and the package step numbers it with one ``str.replace`` (``RenderedRow.numbered``).

Under the run's folder (``spool``)::

    rendered/<sheet>.rows     the sheet's rendered rows, in spool order
    rendered/sheets.json      the links' base and {sheet key: its .rows file's size in bytes},
                              written last

A record is the row's XML, its link budget and its links' columns and targets, separated by
US (U+001F) and ended by RS (U+001E): both are characters XML 1.0 cannot hold, so neither
occurs in a rendered row (``xml_text`` removes them) nor in a link target (a percent-encoded
URI reference). The rendered rows are written before the run commits, so they become visible
with it, atomically, or not at all.

The package step (``batch_rows``) uses a sheet's rendered rows only when ``sheets.json`` lists
them at the size the file has, rendered with the links' base it asks for; otherwise (a run from
before rendered rows, a damaged or partial file, a sheet whose rendering failed in the batch)
it renders the batch's spooled rows as it
always could: the same code, so the same bytes. A value that cannot be rendered (``TypeError``)
stops the batch rendering that sheet and nothing else: the package step renders it and raises
there, as a workbook that cannot be written always did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from exports.deliverable_schema import Sheet

from .rows import JsonValue, RowDecoder
from .sheet_xml import Link, RenderedRow, RowRenderer

if TYPE_CHECKING:  # the spool writes rendered rows through this module
    from .spool import CommittedBatch

RENDERED_FOLDER = "rendered"
_SIZES = "sheets.json"
_FIELD = "\x1f"
_RECORD_END = "\x1e"
_READ_CHARS = 1 << 18


class RenderedRowsWriter:
    """One batch run's rendered rows, a file per sheet; ``finish`` before the run commits."""

    def __init__(self, folder: Path, link_base: PurePosixPath) -> None:
        self._folder = folder
        self._link_base = link_base
        self._sheets: dict[str, tuple[RowDecoder, RowRenderer, IO[str]]] = {}
        self._not_rendered: set[str] = set()

    def add(self, sheet: Sheet, encoded: Sequence[JsonValue]) -> None:
        """Render the row ``encoded`` (``encode_row``'s, as spooled: the package step renders
        exactly what it would read back)."""
        if sheet.key in self._not_rendered:
            return
        sheet_writer = self._sheets.get(sheet.key)
        if sheet_writer is None:
            self._folder.mkdir(exist_ok=True)
            sheet_writer = self._sheets[sheet.key] = (
                RowDecoder(sheet),
                RowRenderer(sheet.columns, self._link_base),
                self._path(sheet.key).open("w", encoding="utf-8", newline=""),
            )
        decoder, renderer, out = sheet_writer
        try:
            row = renderer.render(decoder.decode(encoded))
        except TypeError:
            self._not_rendered.add(sheet.key)
            del self._sheets[sheet.key]
            out.close()
            self._path(sheet.key).unlink()
            return
        out.write(row.xml)
        out.write(f"{_FIELD}{row.link_bound}")
        for link in row.links:
            out.write(f"{_FIELD}{link.column}{_FIELD}{link.target}")
        out.write(_RECORD_END)

    def finish(self) -> None:
        """Close the files and list them with their sizes: the package step trusts no other."""
        self.close()
        if self._sheets:
            sizes = {key: self._path(key).stat().st_size for key in self._sheets}
            (self._folder / _SIZES).write_text(
                json.dumps({"link_base": str(self._link_base), "sizes": sizes}), encoding="utf-8"
            )

    def close(self) -> None:
        for _decoder, _renderer, out in self._sheets.values():
            out.close()

    def _path(self, sheet_key: str) -> Path:
        return self._folder / f"{sheet_key}.rows"


def batch_rows(
    batch: CommittedBatch, sheet: Sheet, link_base: PurePosixPath
) -> Iterator[RenderedRow]:
    """The batch's rows of ``sheet``, rendered with links relative to ``link_base``: as its
    process rendered them when it could, else rendered now from its spool."""
    folder = batch.run_dir / RENDERED_FOLDER
    path = folder / f"{sheet.key}.rows"
    if _size(path) == _rendered_sizes(folder, link_base).get(sheet.key, -1):
        return _read_rendered(path)
    decoder, renderer = RowDecoder(sheet), RowRenderer(sheet.columns, link_base)
    return (renderer.render(decoder.decode(row)) for row in batch.rows(sheet))


def _rendered_sizes(folder: Path, link_base: PurePosixPath) -> dict[str, int]:
    """The sizes of the sheets ``folder`` holds rendered with ``link_base``."""
    try:
        rendered = json.loads((folder / _SIZES).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    if rendered["link_base"] != str(link_base):
        return {}
    sizes: dict[str, int] = rendered["sizes"]
    return sizes


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _read_rendered(path: Path) -> Iterator[RenderedRow]:
    """The file's records, read in large chunks (memory holds one chunk, not the sheet)."""
    pending = ""
    with path.open(encoding="utf-8", newline="") as source:
        while chunk := source.read(_READ_CHARS):
            records = (pending + chunk).split(_RECORD_END)
            pending = records.pop()
            for record in records:
                xml, link_bound, *links = record.split(_FIELD)
                yield RenderedRow(
                    xml,
                    tuple(map(Link, links[0::2], links[1::2])),
                    int(link_bound),
                )
