"""Text made safe for spreadsheet cells: no formula injection, no XML-illegal characters."""

from __future__ import annotations

import re

#: C0 controls other than tab/LF/CR, lone surrogates and the two non-characters XML forbids
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: a cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def csv_text(text: str) -> str:
    """``text`` for a CSV cell: a formula-like value gets a leading ``'`` so it stays text."""
    return f"'{text}" if looks_like_formula(text) else text


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold; the rest is kept."""
    if text.isprintable():  # all of them are unprintable: most text skips the regex
        return text
    return _XML_ILLEGAL.sub("", text)
