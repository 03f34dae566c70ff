"""Section narrative: the human-readable tables that entries point their text at."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from .elements import Element, Prototype, add, add_text, clean_text, prototype_root, slot

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def add_paragraph(section_text: Element, text: str) -> None:
    add_text(section_text, "paragraph", text)


class NarrativeTable:
    """A ``<table>`` in a section's ``<text>``, one row per record.

    Rows and chosen cells carry ``ID`` attributes so entries can reference them
    (``<reference value="#medication-3"/>``); ids are made from the section's prefix and the
    row's position, never from source data, so they are always valid and unique.
    """

    def __init__(self, section_text: Element, prefix: str, headers: Sequence[str]) -> None:
        self._prefix = prefix
        self._count = 0
        table = _table(tuple(headers)).add(section_text)
        self._body = table[1]  # the tbody, after the thead

    def add_row(self, cells: Sequence[str], cell_ids: Mapping[int, str] = {}) -> str:
        """Append a row; ``cell_ids`` names cells (by column) that entries reference.

        Returns the row's id; a named cell's id is ``f"{row_id}-{name}"``.
        """
        self._count += 1
        row_id = f"{self._prefix}-{self._count}"
        row = _row(len(cells), tuple(cell_ids.items())).add(self._body, row=row_id)
        for cell, text in zip(row, cells, strict=True):
            _set_multiline_text(cell, text)
        return row_id


@lru_cache(maxsize=64)
def _table(headers: tuple[str, ...]) -> Prototype:
    """A table with its header row and an empty body, made once per header row and copied."""
    table = prototype_root("table", {"border": "1", "width": "100%"})
    header_row = add(add(table, "thead"), "tr")
    for header in headers:
        add_text(header_row, "th", header)
    add(table, "tbody")
    return Prototype(table)


@lru_cache(maxsize=64)
def _row(cells: int, cell_ids: tuple[tuple[int, str], ...]) -> Prototype:
    """A table row's cells, without their text, made once per shape and copied."""
    row = prototype_root("tr", {"ID": slot("row")})
    named = dict(cell_ids)
    for column in range(cells):
        add(row, "td", {"ID": f"{slot('row')}-{named[column]}"} if column in named else None)
    return Prototype(row)


def _set_multiline_text(cell: Element, text: str) -> None:
    """Lines of the source text become lines in the rendered narrative (``<br/>``)."""
    if "\n" not in text and "\r" not in text:
        cell.text = clean_text(text)
        return
    lines = _LINE_BREAK.split(clean_text(text))
    cell.text = lines[0]
    for line in lines[1:]:
        add(cell, "br").tail = line
