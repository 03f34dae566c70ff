"""Name parts for the deliverable's folders and files: safe on Windows, macOS and Linux, unique.

Every part of a path built from practice data goes through here:

- ``safe_part`` makes free text (names, chart ids, message categories) safe: Unicode NFC
  normalised and kept (Chinese stays Chinese), control characters replaced by a space (so
  ``"Mary\x00Ann"`` stays two words), ``<>:"/\\|?*`` and bidirectional controls by ``-``,
  whitespace runs collapsed to one space, leading/trailing dots and spaces stripped (no
  ``..``, no hidden files, no names Windows silently truncates), bounded in UTF-8 bytes without
  splitting a character, and an empty result replaced by a placeholder.
- ``id_part`` makes a record id safe *and injective*: ids made only of ``[0-9a-z-]`` are kept
  verbatim; any other id becomes ``<readable prefix>~<12 hex digits of its SHA-256>``. A kept id
  never contains ``~``, ``_`` or capitals, and a hashed one always contains ``~``, so two
  distinct ids never give the same part, even on case-insensitive file systems. Because id parts
  never contain ``_``, a name that starts with ``{id_part}_`` is unique whatever follows, which
  is how patient folders stay unique across batches with no coordination between them.
- ``safe_segment`` is the last word on a whole path segment: Windows reserved device names
  (``CON``, ``NUL``, ``COM1``..., with or without an extension) get a leading ``_``.

The per-part byte bounds keep every segment well under 255 bytes (the limit of every common file
system). Whole paths stay under ``PATH_MAX_CHARS`` characters (Windows' 260-character limit,
unpacked into a typical folder): see ``layout``, which shortens the free text of a path first
(names, the message category) and only then writes an id in its short form
(``short_id_part``: ``~`` and 12 hex digits of its SHA-256, as unique as the id).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime

from exports.sources.records import Demographics

#: what an empty or unusable part becomes, so no segment is ever empty or starts with ``_``
PLACEHOLDER = "unknown"

#: ``dob`` in names when the source has no valid date of birth (missing or impossible)
UNKNOWN_DOB = "unknown"

#: every path from the archive root has fewer characters than this (UTF-16 code units, as
#: Windows counts them)
PATH_MAX_CHARS = 200
NAME_MAX_BYTES = 48
CHART_ID_MAX_BYTES = 32
#: the practice's name in the root folder's name (the root starts every path)
PRACTICE_MAX_CHARS = 32
ID_PREFIX_MAX_BYTES = 32
ID_HASH_LENGTH = 12
EXTENSION_MAX_LENGTH = 10
SEGMENT_MAX_BYTES = 255

_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_WHITESPACE = re.compile(r"\s+")
_PLAIN_ID = re.compile(r"[0-9a-z-]{1,48}")
_PLAIN_EXTENSION = re.compile(rf"[a-z0-9]{{1,{EXTENSION_MAX_LENGTH}}}")
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Windows reserves these device names in any case, alone or followed by an extension; the
# superscript digits are reserved too (COM¹ is a device on Windows).
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{device}{n}" for device in ("COM", "LPT") for n in "123456789¹²³"]
)


def safe_part(text: str, *, max_bytes: int = NAME_MAX_BYTES, placeholder: str = PLACEHOLDER) -> str:
    """``text`` made safe for use inside a file or folder name on every OS; never empty."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    text = _WHITESPACE.sub(" ", text)
    text = "".join("-" if _is_unsafe_char(char) else char for char in text)
    text = _strip_edges(text)
    text = _strip_edges(_truncate_utf8(text, max_bytes))
    return text or placeholder


def id_part(record_id: str) -> str:
    """A record id as a name part: kept when already plain, otherwise prefix + ``~`` + hash.

    Injective over all ids, also when compared case-insensitively; never contains ``_``.
    """
    if _PLAIN_ID.fullmatch(record_id):
        return record_id
    digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()
    prefix = safe_part(record_id, max_bytes=ID_PREFIX_MAX_BYTES, placeholder="id")
    return f"{prefix.replace('_', '-')}~{digest[:ID_HASH_LENGTH]}"


def short_id_part(record_id: str) -> str:
    """A record id in its short form, for a path that has no room for the whole id:
    ``~`` and 12 hex digits of its SHA-256. Never contains ``_``, like ``id_part``."""
    digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"~{digest[:ID_HASH_LENGTH]}"


def path_chars(text: str) -> int:
    """``text``'s length as Windows counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def shorten(part: str, max_chars: int, *, placeholder: str = PLACEHOLDER) -> str:
    """A safe part cut to ``max_chars`` characters (at least one), never ending in a dot or
    space and never splitting a character."""
    while path_chars(part) > max(max_chars, 1):
        part = part[:-1]
    return _strip_edges(part) or placeholder[: max(max_chars, 1)]


def dob_part(demographics: Demographics) -> str:
    """Date of birth as ``YYYY-MM-DD``, or ``unknown`` when the source has no valid date.

    Sources give ``date_of_birth=None`` both when it is missing and when it is impossible (the
    text they had is kept in ``date_of_birth_text`` and shown in the workbook).
    """
    born = demographics.date_of_birth
    return born.isoformat() if born is not None else UNKNOWN_DOB


def timestamp_part(moment: datetime) -> str:
    """A moment in a file-safe form, e.g. ``2024-03-05T14-30-00`` (wall time, no zone)."""
    return moment.strftime("%Y-%m-%dT%H-%M-%S")


def date_part(day: date | None) -> str:
    """A day as ``YYYY-MM-DD``, or ``undated``."""
    return day.isoformat() if day is not None else "undated"


def extension_part(extension: str, *, fallback: str = "bin") -> str:
    """A file extension (no dot) that is short, lower case ASCII letters and digits only."""
    extension = extension.strip().lstrip(".").lower()
    return extension if _PLAIN_EXTENSION.fullmatch(extension) else fallback


def patient_folder_name(demographics: Demographics, max_chars: int | None = None) -> str:
    """``{id}_{chart_id}_{last}_{first}_{dob}``: unique per patient id, safe everywhere.

    With ``max_chars``, the name fits in that many characters: the last and first names are
    shortened first (the longer one first), then the chart id; the patient id is written in its
    short form only when even that is not enough.
    """
    patient_id = id_part(demographics.id)
    chart = safe_part(demographics.chart_id, max_bytes=CHART_ID_MAX_BYTES)
    names = [safe_part(demographics.last_name), safe_part(demographics.first_name)]
    dob = dob_part(demographics)

    def joined() -> str:
        return "_".join((patient_id, chart, *names, dob))

    if max_chars is not None:
        while path_chars(joined()) > max_chars and max(map(path_chars, names)) > 1:
            longest = max(range(2), key=lambda index: path_chars(names[index]))
            names[longest] = shorten(names[longest], path_chars(names[longest]) - 1)
        if path_chars(joined()) > max_chars:
            chart = shorten(chart, path_chars(chart) - (path_chars(joined()) - max_chars))
        if path_chars(joined()) > max_chars:
            patient_id = short_id_part(demographics.id)
    return safe_segment(joined())


def practice_part(practice_name: str) -> str:
    """The practice's name as it starts the deliverable's root folder.

    It never starts with a character spreadsheets read as a formula (``= + - @``), so paths
    from the archive root go into CSV files verbatim, usable by people and machines alike. At
    most ``PRACTICE_MAX_CHARS`` characters: every path starts with it.
    """
    name = safe_part(practice_name, max_bytes=96, placeholder="Practice")
    name = safe_part(name.lstrip("=+-@"), max_bytes=96, placeholder="Practice")
    return shorten(name, PRACTICE_MAX_CHARS, placeholder="Practice")


def safe_segment(name: str) -> str:
    """A whole file or folder name checked against Windows' reserved device names."""
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in _RESERVED:
        name = f"_{name}"
    if len(name.encode("utf-8", "surrogatepass")) > SEGMENT_MAX_BYTES:
        raise ValueError("a path segment is longer than 255 bytes")  # a bug in a caller's bounds
    return name


def with_suffix_number(name: str, number: int) -> str:
    """``front.jpg`` -> ``front_2.jpg``: the fallback that keeps two files apart in one folder."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        return f"{name}_{number}"
    return f"{stem}_{number}.{extension}"


def _is_unsafe_char(char: str) -> bool:
    # Cc: C0/C1 controls and DEL; Cs: lone surrogates; bidirectional controls can disguise a
    # file's extension ("gpj.exe" shown as "exe.jpg"). Joiners (ZWJ/ZWNJ) stay: scripts use them.
    return (
        bool(_FORBIDDEN.match(char))
        or char in _BIDI_CONTROLS
        or unicodedata.category(char) in ("Cc", "Cs")
    )


def _strip_edges(text: str) -> str:
    return text.strip(" .")


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")
