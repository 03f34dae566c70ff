"""The demo practice's files: real PDFs and JPEGs, generated on demand and byte-for-byte stable.

Every class here is a ``Blob`` (see ``records.py``) that holds only what it needs to draw its
file (a few lines of text, a seed key), compares equal by that content, and renders the bytes
only when ``chunks()`` is iterated, so a patient record stays small however many files it has.

PDFs are written directly rather than through a layout library: a one-page note costs tens of
microseconds this way against milliseconds in fpdf2, and the benchmark renders ~70,000 of them.
They use the standard Helvetica font with WinAnsi encoding (no embedded font), so characters
outside Windows-1252 (Chinese, Arabic, Cyrillic names) print as "?"; the text itself is kept
intact in the records. Nothing in a file depends on the clock: dates come from the record.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from .records import RecordUnavailable

#: how much of the large document's payload one chunk carries
CHUNK_SIZE = 1 << 20

_PAGE_WIDTH, _PAGE_HEIGHT = 612, 792  # US Letter, in points
_MARGIN = 54
_LEADING = 13
_LINES_PER_PAGE = 52
_WRAP_COLUMNS = 92  # 10 pt Helvetica across a 504 pt text column
_PRODUCER = "Export Portal demo practice"


# --- PDF ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Payload:
    """A stream object's bytes that are produced while the file is written, not before."""

    length: int
    key: str

    def chunks(self) -> Iterator[bytes]:
        # One random block, repeated: incompressible for zip (deflate looks back 32 KiB only)
        # and costs one block of memory however long the stream is.
        block = random.Random(self.key).randbytes(min(CHUNK_SIZE, self.length))
        remaining = self.length
        while remaining >= len(block) > 0:
            yield block
            remaining -= len(block)
        if remaining:
            yield block[:remaining]


_PDF_STRING_ESCAPES = re.compile(rb"[\\()\x00-\x1f]")


def _pdf_text(text: str) -> bytes:
    """A PDF literal string in WinAnsi: parentheses, backslashes and controls escaped."""
    data = text.encode("cp1252", errors="replace")
    return b"(" + _PDF_STRING_ESCAPES.sub(lambda m: b"\\%03o" % m.group()[0], data) + b")"


def _pdf_info_text(text: str) -> bytes:
    """A PDF text string for the document information dictionary (PDFDocEncoding or UTF-16)."""
    if text.isascii():
        return _pdf_text(text)
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def wrap_lines(paragraphs: Iterable[str], columns: int = _WRAP_COLUMNS) -> list[str]:
    """Paragraphs folded at spaces to ``columns``; a word longer than a line is cut.

    Greedy and simple on purpose: ``textwrap`` costs more than the rest of a PDF together.
    """
    lines: list[str] = []
    for paragraph in paragraphs:
        start, end = 0, len(paragraph)
        while end - start > columns:
            cut = paragraph.rfind(" ", start, start + columns + 1)
            if cut <= start:
                lines.append(paragraph[start : start + columns])
                start += columns
            else:
                lines.append(paragraph[start:cut])
                start = cut + 1
        lines.append(paragraph[start:])
    return lines


def _page_content(title: str | None, lines: Sequence[str]) -> bytes:
    parts = [b"BT\n"]
    top = _PAGE_HEIGHT - _MARGIN
    if title is not None:
        parts.append(b"/F2 14 Tf %d %d Td %s Tj\n" % (_MARGIN, top, _pdf_text(title)))
        parts.append(b"0 -%d Td\n" % (2 * _LEADING))
    else:
        parts.append(b"%d %d Td\n" % (_MARGIN, top))
    parts.append(b"/F1 10 Tf %d TL\n" % _LEADING)
    parts.extend(b"%s '\n" % _pdf_text(line) for line in lines)
    parts.append(b"ET")
    return b"".join(parts)


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)


def _pdf_date(moment: datetime) -> bytes:
    return moment.strftime("D:%Y%m%d%H%M%S").encode("ascii")


def _pdf_objects(
    title: str, lines: Sequence[str], created: datetime, payload: _Payload | None
) -> list[bytes | _Payload]:
    """The objects of a text PDF, numbered from 1 in list order."""
    body = wrap_lines(lines)
    pages = [body[i : i + _LINES_PER_PAGE] for i in range(0, len(body), _LINES_PER_PAGE)] or [[]]
    first_page = 6
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(len(pages)))
    objects: list[bytes | _Payload] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title %s /Producer %s /CreationDate (%s) /ModDate (%s) >>"
        % (_pdf_info_text(title), _pdf_text(_PRODUCER), _pdf_date(created), _pdf_date(created)),
    ]
    for number, page_lines in enumerate(pages):
        content_ref = first_page + 2 * number + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font "
            b"<< /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
            % (_PAGE_WIDTH, _PAGE_HEIGHT, content_ref)
        )
        objects.append(_stream(_page_content(title if number == 0 else None, page_lines)))
    if payload is not None:
        # Unreferenced by the pages: the bulk of a scanned archive, carried but not drawn.
        objects.append(b"<< /Length %d >>\nstream\n" % payload.length)
        objects.append(payload)
    return objects


def _write_pdf(objects: Sequence[bytes | _Payload], with_payload: bool = True) -> Iterator[bytes]:
    """The file, piece by piece, with every xref offset counted as it is written.

    A ``_Payload`` continues the object before it (its stream dictionary) and closes it.
    Without ``with_payload`` its bytes are counted but not produced: to measure the file.
    """
    position = 0
    offsets: list[int] = []

    def emit(piece: bytes) -> bytes:
        nonlocal position
        position += len(piece)
        return piece

    yield emit(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    number = 0
    for index, item in enumerate(objects):
        if isinstance(item, _Payload):
            if with_payload:
                for chunk in item.chunks():
                    yield emit(chunk)
            else:
                position += item.length
            yield emit(b"\nendstream\nendobj\n")
            continue
        number += 1
        offsets.append(position)
        opens_payload = index + 1 < len(objects) and isinstance(objects[index + 1], _Payload)
        yield emit(b"%d 0 obj\n%s%s" % (number, item, b"" if opens_payload else b"\nendobj\n"))
    xref_at = position
    entries = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    yield emit(
        b"xref\n0 %d\n0000000000 65535 f \n%strailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\n"
        b"startxref\n%d\n%%%%EOF\n" % (number + 1, entries, number + 1, xref_at)
    )


def render_pdf(title: str, lines: Sequence[str], created: datetime) -> bytes:
    """A small text PDF: ``title`` in bold, then ``lines`` wrapped over as many pages as needed."""
    return b"".join(_write_pdf(_pdf_objects(title, lines, created, None)))


@dataclass(frozen=True, slots=True)
class PdfFile:
    """A text PDF (note, document, lab report, fax) drawn from its title and lines."""

    title: str
    lines: tuple[str, ...]
    created: datetime
    extension: str = field(default="pdf", init=False)
    media_type: str = field(default="application/pdf", init=False)
    size: int | None = field(default=None, init=False)

    def chunks(self) -> Iterator[bytes]:
        yield render_pdf(self.title, self.lines, self.created)


@dataclass(frozen=True, slots=True)
class LargePdfFile:
    """A valid PDF of about ``target_size`` bytes, streamed in ``CHUNK_SIZE`` pieces.

    One text page plus an undrawn payload stream of stable pseudo-random bytes (``key``), so
    it neither compresses away nor ever sits in memory whole. ``size`` is exact.
    """

    title: str
    lines: tuple[str, ...]
    created: datetime
    target_size: int
    key: str
    extension: str = field(default="pdf", init=False)
    media_type: str = field(default="application/pdf", init=False)
    size: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", self._total_size(self._payload_length()))

    def _total_size(self, payload_length: int) -> int:
        objects = _pdf_objects(self.title, self.lines, self.created, _Payload(payload_length, ""))
        return sum(len(piece) for piece in _write_pdf(objects, with_payload=False)) + payload_length

    def _payload_length(self) -> int:
        # Digits of the length and of startxref move with the length: settle in a few steps.
        length = max(0, self.target_size - self._total_size(0))
        for _ in range(4):
            excess = self._total_size(length) - self.target_size
            if excess == 0 or length - excess < 0:
                break
            length -= excess
        return length

    def chunks(self) -> Iterator[bytes]:
        objects = _pdf_objects(
            self.title, self.lines, self.created, _Payload(self._payload_length(), self.key)
        )
        yield from _write_pdf(objects)


# --- images ---------------------------------------------------------------------------------

_PHOTO_SIZE = (150, 200)
_CARD_SIZE = (340, 214)  # ID-1 card proportions
_JPEG_QUALITY = 80


@cache
def _font() -> ImageFont.ImageFont:
    # Pillow's built-in bitmap font: five times faster to draw than FreeType. It has
    # Latin-1 glyphs only, so other characters are drawn as "?" (see ``_latin1``).
    return ImageFont.load_default_imagefont()


def _latin1(text: str) -> str:
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def _colour(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def render_photo(key: str) -> bytes:
    """A head-and-shoulders silhouette on a plain backdrop, its colours drawn from ``key``."""
    rng = random.Random(key)
    width, height = _PHOTO_SIZE
    image = Image.new("RGB", _PHOTO_SIZE, _colour(rng, 150, 230))
    draw = ImageDraw.Draw(image)
    skin = _colour(rng, 90, 220)
    head = rng.randint(30, 40)
    centre = width // 2 + rng.randint(-10, 10)
    draw.ellipse((centre - 70, height - 60, centre + 70, height + 80), fill=_colour(rng, 20, 160))
    draw.ellipse((centre - head, 40, centre + head, 40 + 2 * head + 10), fill=skin)
    return _jpeg_bytes(image)


def render_card(key: str, lines: Sequence[str], back: bool) -> bytes:
    """An insurance card face: a coloured band and ``lines`` of text (front) or fine print."""
    rng = random.Random(key)
    width, height = _CARD_SIZE
    image = Image.new("RGB", _CARD_SIZE, (250, 250, 246))
    draw = ImageDraw.Draw(image)
    band = _colour(rng, 20, 140)
    if back:
        draw.rectangle((0, 18, width, 52), fill=(30, 30, 30))
        top = 64
    else:
        draw.rectangle((0, 0, width, 40), fill=band)
        top = 52
    for number, line in enumerate(lines):
        draw.text((14, top + 20 * number), _latin1(line), fill=(20, 20, 20), font=_font())
    draw.rectangle((0, height - 10, width, height), fill=band)
    return _jpeg_bytes(image)


def render_scan(key: str, lines: Sequence[str]) -> bytes:
    """A scanned page as a JPEG: greyish paper with the first few lines of its text."""
    rng = random.Random(key)
    shade = rng.randint(225, 245)
    image = Image.new("L", (240, 310), shade)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(wrap_lines(lines, 36)[:16]):
        draw.text((14, 14 + 16 * number), _latin1(line), fill=30, font=_font())
    return _jpeg_bytes(image)


@dataclass(frozen=True, slots=True)
class PhotoFile:
    """A patient photo (JPEG)."""

    key: str
    extension: str = field(default="jpg", init=False)
    media_type: str = field(default="image/jpeg", init=False)
    size: int | None = field(default=None, init=False)

    def chunks(self) -> Iterator[bytes]:
        yield render_photo(self.key)


@dataclass(frozen=True, slots=True)
class CardImageFile:
    """One face of an insurance card (JPEG)."""

    key: str
    lines: tuple[str, ...]
    back: bool
    extension: str = field(default="jpg", init=False)
    media_type: str = field(default="image/jpeg", init=False)
    size: int | None = field(default=None, init=False)

    def chunks(self) -> Iterator[bytes]:
        yield render_card(self.key, self.lines, self.back)


@dataclass(frozen=True, slots=True)
class ScanImageFile:
    """A scanned paper document or photo attachment (JPEG) showing its text."""

    key: str
    lines: tuple[str, ...]
    extension: str = field(default="jpg", init=False)
    media_type: str = field(default="image/jpeg", init=False)
    size: int | None = field(default=None, init=False)

    def chunks(self) -> Iterator[bytes]:
        yield render_scan(self.key, self.lines)


@dataclass(frozen=True, slots=True)
class CorruptJpegFile:
    """A ``.jpg`` whose bytes are not an image: a JPEG start marker, then noise.

    As a failed upload leaves behind; the export must notice rather than ship it silently.
    """

    key: str
    length: int = 2048
    extension: str = field(default="jpg", init=False)
    media_type: str = field(default="image/jpeg", init=False)
    size: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", self.length)

    def chunks(self) -> Iterator[bytes]:
        marker = b"\xff\xd8\xff\xe0"
        noise = random.Random(self.key).randbytes(self.length - len(marker))
        yield marker + noise.replace(b"\xff", b"\x00")  # no marker can follow: undecodable


@dataclass(frozen=True, slots=True)
class TextFile:
    """A plain-text attachment, UTF-8."""

    text: str
    extension: str = field(default="txt", init=False)
    media_type: str = field(default="text/plain; charset=utf-8", init=False)
    size: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.text.encode("utf-8")))

    def chunks(self) -> Iterator[bytes]:
        yield self.text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class MissingFile:
    """A file the source lists but cannot produce: reading it raises ``RecordUnavailable``."""

    extension: str
    media_type: str
    size: int | None = None

    def chunks(self) -> Iterator[bytes]:
        raise RecordUnavailable("the file is listed in the source but its content is missing")
