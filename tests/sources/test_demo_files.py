"""The demo practice's generated files are real, readable PDFs and JPEGs."""

import io
import re
import subprocess
from datetime import datetime

import pytest
from PIL import Image

from exports.sources.demo import DemoSource, HardCase
from exports.sources.demo_files import (
    CardImageFile,
    LargePdfFile,
    PdfFile,
    PhotoFile,
    ScanImageFile,
    TextFile,
    wrap_lines,
)
from exports.sources.records import Blob
from tests.tools import needs_poppler

WHEN = datetime(2023, 5, 1, 9, 30)


def read(blob: Blob) -> bytes:
    return b"".join(blob.chunks())


def xref_problems(data: bytes) -> list[str]:
    """What is wrong with a PDF's cross-reference table: every entry must point at its object."""
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    if not data[start:].startswith(b"xref\n"):
        return [f"startxref {start} does not point at the xref table"]
    header = re.match(rb"xref\n0 (\d+)\n", data[start:])
    entries = data[start + header.end() :].split(b"\n")[: int(header.group(1))]
    problems = []
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        if not data[offset:].startswith(b"%d 0 obj\n" % number):
            problems.append(f"object {number} is not at {offset}")
    return problems


def a_pdf(lines=("Chief complaint: cough",), title="Progress Note") -> bytes:
    return read(PdfFile(title, tuple(lines), WHEN))


def test_a_pdf_cross_reference_points_at_every_object():
    long_text = ["A paragraph of clinical text that goes on for a while. " * 6] * 80

    assert xref_problems(a_pdf()) == []
    assert xref_problems(a_pdf(long_text)) == []  # several pages


@needs_poppler
def test_a_pdf_opens_cleanly_and_shows_its_text():
    data = a_pdf(["Assessment: (stable) \\ improving", "Plan: =SUM(A1) \x00\x1f kept", "Zoë, café"])

    result = subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=30
    )

    text = result.stdout.decode("utf-8")
    assert result.stderr == b""
    assert "Progress Note" in text
    assert "Assessment: (stable) \\ improving" in text
    assert "Plan: =SUM(A1)" in text
    assert "Zoë, café" in text


@needs_poppler
def test_a_multi_page_pdf_has_all_its_pages():
    data = a_pdf([f"Line {n}" for n in range(200)])

    info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True, timeout=30)

    assert info.stderr == b""
    assert re.search(rb"Pages:\s+4\n", info.stdout)


@needs_poppler
def test_a_pdf_title_outside_latin_is_kept_in_the_document_info():
    data = a_pdf(title="Note for 王秀英 — follow-up")

    info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True, timeout=30)

    assert "Note for 王秀英 — follow-up" in info.stdout.decode("utf-8")


def test_the_same_pdf_is_the_same_bytes_and_another_date_changes_them():
    assert a_pdf() == a_pdf()
    assert read(PdfFile("Progress Note", ("x",), datetime(2020, 1, 1))) != a_pdf(("x",))


@pytest.mark.parametrize("size", [4096, 99_999, 100_000, 1_000_000, 5 * 1024 * 1024 + 3])
def test_a_large_pdf_is_exactly_its_size_and_well_formed(size):
    blob = LargePdfFile("Archive", ("Scanned chart",), WHEN, size, "key")

    data = read(blob)

    assert len(data) == blob.size == size
    assert xref_problems(data) == []


@needs_poppler
def test_a_large_pdf_opens_and_shows_its_text():
    data = read(LargePdfFile("Scanned chart archive", ("Pages 1-400",), WHEN, 2_000_000, "k"))

    result = subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=30
    )

    assert result.stderr == b""
    assert "Pages 1-400" in result.stdout.decode("utf-8")


@needs_poppler
def test_every_pdf_of_a_small_practice_opens_without_errors():
    source = DemoSource(12, 3, large_document_bytes=256 * 1024)
    missing = source.read_patient(source.hard_case_patient_ids(HardCase.MISSING_FILE)[0])
    unreadable = missing.documents[0].file
    pdfs = []
    for record in source.read_patients(source.patient_ids()):
        pdfs += [n.pdf for n in record.clinical_notes if n.pdf]
        pdfs += [d.file for d in record.documents if d.file.extension == "pdf"]
        pdfs += [r.report for r in record.lab_results if r.report]
        pdfs += [f.file for f in record.faxes_and_referrals]
    pdfs = [blob for blob in pdfs if blob != unreadable]

    for blob in pdfs:
        result = subprocess.run(
            ["pdftotext", "-", "-"], input=read(blob), capture_output=True, timeout=30
        )
        assert (result.returncode, result.stderr) == (0, b""), blob

    assert len(pdfs) > 60


@needs_poppler
def test_a_clinical_note_pdf_shows_the_visit():
    source = DemoSource(40, 9)
    ordinary_patients = [str(i) for i in range(100012, 100041)]  # past the hard cases
    record = next(
        r
        for r in source.read_patients(ordinary_patients)
        if any(n.locked for n in r.clinical_notes)
    )
    note = next(n for n in record.clinical_notes if n.locked)
    appointment = next(a for a in record.appointments if a.id == note.appointment_id)

    text = subprocess.run(
        ["pdftotext", "-", "-"], input=read(note.pdf), capture_output=True, check=True, timeout=30
    ).stdout.decode("utf-8")

    assert appointment.reason in text
    assert appointment.provider in text
    for code in appointment.icd10_codes:
        assert code in text


def test_wrapping_breaks_at_spaces_and_cuts_overlong_words():
    assert wrap_lines(["alpha beta gamma delta"], 11) == ["alpha beta", "gamma delta"]
    assert wrap_lines(["x" * 25], 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert wrap_lines(["", "short"], 10) == ["", "short"]


@pytest.mark.parametrize(
    "blob",
    [
        PhotoFile("p"),
        CardImageFile("c", ("Aetna", "Member: 王秀英 Zoë"), back=False),
        CardImageFile("c", ("Member services",), back=True),
        ScanImageFile("s", ("Outside records",)),
    ],
    ids=["photo", "card front", "card back", "scan"],
)
def test_images_are_small_valid_jpegs_and_stable(blob):
    data = read(blob)

    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    assert len(data) < 64 * 1024
    assert read(blob) == data


def test_a_text_attachment_is_utf8_and_knows_its_size():
    blob = TextFile("Blood pressure log — 120/80\n")

    assert read(blob).decode("utf-8") == "Blood pressure log — 120/80\n"
    assert blob.size == len(read(blob))
