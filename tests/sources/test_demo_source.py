"""The demo practice: deterministic, complete, awkward on purpose, and flat in memory."""

import hashlib
import io
import re
import subprocess
import sys
import tracemalloc
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest
from PIL import Image

from exports.sources import codes
from exports.sources.base import PracticeSource
from exports.sources.demo import (
    CONTROL_CHARACTER_TEXT,
    FORMULA_TEXTS,
    DemoSource,
    HardCase,
)
from exports.sources.demo_files import PdfFile
from exports.sources.records import (
    Blob,
    Category,
    LabSource,
    PatientRecord,
    PatientStatus,
    RecordUnavailable,
)

SMALL_LARGE_DOCUMENT = 64 * 1024
XML_ILLEGAL = {chr(c) for c in range(0x20)} - {"\t", "\n", "\r"}


def a_practice(patients: int = 12, seed: int = 7, **options) -> DemoSource:
    options.setdefault("large_document_bytes", SMALL_LARGE_DOCUMENT)
    return DemoSource(patients, seed, **options)


def read_all(source: PracticeSource) -> list[PatientRecord]:
    return list(source.read_patients(source.patient_ids()))


def blobs_of(record: PatientRecord) -> Iterator[tuple[str, Blob]]:
    """Every file a patient record carries, with a label saying where it sits."""
    for insurance in record.insurances:
        for face, blob in (("front", insurance.card_front), ("back", insurance.card_back)):
            if blob is not None:
                yield f"insurance {insurance.id} {face}", blob
    for note in record.clinical_notes:
        if note.pdf is not None:
            yield f"note {note.id}", note.pdf
    for document in record.documents:
        if document.file is not None:
            yield f"document {document.id}", document.file
    for result in record.lab_results:
        if result.report is not None:
            yield f"lab {result.id}", result.report
    for message in record.messages:
        for attachment in message.attachments:
            yield f"attachment {attachment.id}", attachment.file
    for fax in record.faxes_and_referrals:
        if fax.file is not None:
            yield f"fax {fax.id}", fax.file
    if record.photo is not None:
        yield "photo", record.photo.file


def digest(blob: Blob) -> str:
    try:
        return hashlib.sha256(b"".join(blob.chunks())).hexdigest()
    except RecordUnavailable:
        return "unavailable"


def the_patient(source: DemoSource, case: HardCase) -> PatientRecord:
    return source.read_patient(source.hard_case_patient_ids(case)[0])


def free_text_of(record: PatientRecord) -> list[str]:
    return [
        *(a.reason for a in record.appointments),
        *(a.notes for a in record.appointments if a.notes),
        *(d.description for d in record.documents),
        *(m.subject for m in record.messages),
        *(m.body for m in record.messages),
        *(m.notes for m in record.medications),
        *(a.notes for a in record.allergies),
        *(p.notes for p in record.problems),
        *(p.notes for p in record.payments),
        *(r.comments for r in record.lab_results),
    ]


# --- determinism ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_practice_record_for_record_and_byte_for_byte():
    first, second = read_all(a_practice(seed=11)), read_all(a_practice(seed=11))

    assert first == second
    first_files = [(where, digest(blob)) for r in first for where, blob in blobs_of(r)]
    second_files = [(where, digest(blob)) for r in second for where, blob in blobs_of(r)]
    assert first_files == second_files
    assert len(first_files) > 50


def test_a_different_seed_gives_a_different_practice():
    first, second = read_all(a_practice(seed=1)), read_all(a_practice(seed=2))

    assert [r.demographics for r in first] != [r.demographics for r in second]
    assert [r.appointments for r in first] != [r.appointments for r in second]


def test_patients_read_in_any_order_are_the_same_as_read_in_sequence():
    source = a_practice(patients=40)
    ids = list(source.patient_ids())

    backwards = {r.id: r for r in source.read_patients(reversed(ids))}

    assert [backwards[i] for i in ids] == read_all(source)


def test_patient_ids_are_stable_strings_in_order():
    assert list(a_practice(patients=10).patient_ids()) == [str(100001 + i) for i in range(10)]


# --- completeness ---------------------------------------------------------------------------


def yielded_counts(source: DemoSource) -> Counter:
    """What reading the practice produces, per category, failures included."""
    counts: Counter = Counter()
    for record in read_all(source):
        counts.update(record.category_counts())
    counts[Category.FAXES_AND_REFERRALS] += len(list(source.unattached_records()))
    return counts


@pytest.mark.parametrize("seed", [3, 2024])
def test_counts_in_source_agree_with_everything_reading_yields(seed):
    source = a_practice(patients=60, seed=seed)

    counts = source.counts_in_source()

    assert set(counts) == set(Category)
    assert Counter(counts) == yielded_counts(source) + Counter()  # + drops zero entries
    assert all(counts[category] > 0 for category in Category)


def test_counts_include_unlocked_notes_and_unattached_faxes():
    source = a_practice(patients=30)
    records = read_all(source)

    unlocked = sum(not note.locked for r in records for note in r.clinical_notes)
    unattached = list(source.unattached_records())

    assert unlocked > 0
    assert unattached and all(fax.patient_id is None for fax in unattached)
    attached = sum(len(r.faxes_and_referrals) for r in records)
    assert source.counts_in_source()[Category.FAXES_AND_REFERRALS] == attached + len(unattached)


def test_the_mix_per_patient_is_realistic():
    records = read_all(a_practice(patients=300))
    per_patient = Counter()
    for record in records:
        per_patient["locked notes"] += sum(note.locked for note in record.clinical_notes)
        per_patient["documents"] += len(record.documents)
        per_patient["lab results"] += sum(
            r.source is not LabSource.INTEGRATION for r in record.lab_results
        )
        per_patient["messages"] += len(record.messages)
        per_patient["photos"] += record.photo is not None
    average = {name: total / len(records) for name, total in per_patient.items()}

    assert 4 <= average["locked notes"] <= 6.5
    assert 1.5 <= average["documents"] <= 2.6
    assert 2.5 <= average["lab results"] <= 3.5
    assert 1.5 <= average["messages"] <= 2.5
    assert 0.25 <= average["photos"] <= 0.42
    sources = {r.source for record in records for r in record.lab_results}
    assert len(sources) == 4  # manual, Quest, LabCorp and integration


def test_insurance_history_has_current_and_past_coverage_and_cards_only_for_current():
    records = read_all(a_practice(patients=100))
    insurances = [i for r in records for i in r.insurances]

    assert {i.priority.value for i in insurances if i.is_current} == {
        "primary",
        "secondary",
        "tertiary",
    }
    assert all(i.end_date is not None for i in insurances if not i.is_current)
    assert all(i.card_front is None for i in insurances if not i.is_current)
    assert any(i.card_front is not None and i.card_back is not None for i in insurances)


def test_practice_size_and_unknown_patients_are_refused_clearly():
    with pytest.raises(ValueError):
        DemoSource(9, 1)
    with pytest.raises(ValueError):
        DemoSource(100_001, 1)
    with pytest.raises(RecordUnavailable):
        a_practice().read_patient("999999")
    with pytest.raises(RecordUnavailable):
        a_practice().read_patient("not-an-id")


def test_test_connection_reports_the_patient_count():
    report = a_practice(patients=25).test_connection()

    assert report.ok and report.patient_count == 25


# --- hard cases -----------------------------------------------------------------------------


def test_a_ten_patient_practice_already_holds_nearly_every_hard_case():
    source = a_practice(patients=10)

    missing = [case for case in HardCase if not source.hard_case_patient_ids(case)]

    assert missing == [HardCase.DECOMPOSED_ACCENTS]


def test_awkward_names_are_kept_exactly_as_the_source_has_them():
    source = a_practice()

    def name(case):
        d = the_patient(source, case).demographics
        return d.last_name, d.first_name

    assert {"/", "\\"} <= set("".join(name(HardCase.SLASHES_IN_NAME)))
    assert name(HardCase.DOTS_IN_NAME)[0] == ".."
    assert {"'", '"'} <= set("".join(name(HardCase.QUOTES_IN_NAME)))
    reserved = {
        part
        for patient_id in source.hard_case_patient_ids(HardCase.RESERVED_NAME)
        for part in (
            source.read_patient(patient_id).demographics.last_name,
            source.read_patient(patient_id).demographics.first_name,
        )
    }
    assert {"CON", "NUL", "COM1"} <= reserved
    assert len(name(HardCase.LONG_NAME)[0]) >= 300
    assert any("\u4e00" <= c <= "\u9fff" for c in "".join(name(HardCase.CHINESE_NAME)))
    assert any("\u0600" <= c <= "\u06ff" for c in "".join(name(HardCase.ARABIC_NAME)))
    assert any("\u0400" <= c <= "\u04ff" for c in "".join(name(HardCase.CYRILLIC_NAME)))
    decomposed = "".join(name(HardCase.DECOMPOSED_ACCENTS))
    assert any(unicodedata.combining(c) for c in decomposed)
    assert unicodedata.normalize("NFD", decomposed) == decomposed
    assert unicodedata.normalize("NFC", decomposed) != decomposed
    assert name(HardCase.EMPTY_FIRST_NAME)[1] == ""


def test_birth_dates_can_be_missing_or_impossible_and_the_text_is_kept():
    source = a_practice()

    missing = the_patient(source, HardCase.MISSING_DATE_OF_BIRTH).demographics
    impossible = the_patient(source, HardCase.IMPOSSIBLE_DATE_OF_BIRTH).demographics

    assert (missing.date_of_birth, missing.date_of_birth_text) == (None, "")
    assert (impossible.date_of_birth, impossible.date_of_birth_text) == (None, "1985-02-30")


def test_two_patients_share_name_and_birth_date_but_not_their_ids():
    source = a_practice()
    twins = [
        source.read_patient(i).demographics
        for i in source.hard_case_patient_ids(HardCase.SAME_NAME_AND_BIRTH_DATE)
    ]

    assert len(twins) == 2
    key = {(d.last_name, d.first_name, d.date_of_birth) for d in twins}
    assert len(key) == 1 and next(iter(key))[2] is not None
    assert twins[0].id != twins[1].id and twins[0].chart_id != twins[1].chart_id


def test_free_text_carries_xml_illegal_control_characters():
    record = the_patient(a_practice(), HardCase.CONTROL_CHARACTERS)

    texts = free_text_of(record)

    assert texts and all(CONTROL_CHARACTER_TEXT in text for text in texts)
    assert set(CONTROL_CHARACTER_TEXT) >= XML_ILLEGAL


def test_free_text_can_look_like_spreadsheet_formulas():
    record = the_patient(a_practice(), HardCase.FORMULA_TEXT)

    texts = free_text_of(record)

    assert texts and all(text in FORMULA_TEXTS for text in texts)
    assert {text[0] for text in texts} == {"=", "+", "-", "@"}


def test_inactive_and_deceased_patients_are_present_with_a_date_of_death():
    source = a_practice(patients=200)
    records = read_all(source)
    statuses = Counter(r.demographics.status for r in records)

    assert statuses[PatientStatus.INACTIVE] >= 2 and statuses[PatientStatus.DECEASED] >= 2
    for record in records:
        d = record.demographics
        assert (d.date_of_death is not None) == (d.status is PatientStatus.DECEASED)
        if d.date_of_death:
            assert all(a.scheduled_time.date() <= d.date_of_death for a in record.appointments)
    assert the_patient(source, HardCase.INACTIVE).demographics.status is PatientStatus.INACTIVE
    assert the_patient(source, HardCase.DECEASED).demographics.status is PatientStatus.DECEASED


def test_unlocked_notes_have_no_signed_pdf_and_locked_ones_do():
    record = the_patient(a_practice(), HardCase.UNLOCKED_NOTE)

    assert any(not note.locked for note in record.clinical_notes)
    assert all((note.pdf is not None) == note.locked for note in record.clinical_notes)


def test_the_large_document_has_its_configured_size_and_streams_in_chunks():
    source = a_practice(large_document_bytes=3 * 1024 * 1024 + 17)
    record = the_patient(source, HardCase.LARGE_DOCUMENT)
    [large] = [d.file for d in record.documents if d.file.size and d.file.size > 1024 * 1024]

    chunk_sizes = [len(chunk) for chunk in large.chunks()]

    assert sum(chunk_sizes) == large.size == 3 * 1024 * 1024 + 17
    assert len(chunk_sizes) > 3 and max(chunk_sizes) <= 1024 * 1024


def test_the_large_document_streams_without_growing_memory():
    source = a_practice(large_document_bytes=24 * 1024 * 1024)
    record = the_patient(source, HardCase.LARGE_DOCUMENT)
    [large] = [d.file for d in record.documents if d.file.size and d.file.size > 1024 * 1024]

    tracemalloc.start()
    try:
        consumed = sum(len(chunk) for chunk in large.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert consumed == 24 * 1024 * 1024
    assert peak < 4 * 1024 * 1024


def test_the_corrupt_photo_is_a_jpg_that_does_not_decode():
    record = the_patient(a_practice(), HardCase.CORRUPT_IMAGE)
    photo = record.photo.file

    assert photo.extension == "jpg"
    with pytest.raises(OSError):
        Image.open(io.BytesIO(b"".join(photo.chunks()))).load()


def test_a_missing_file_raises_record_unavailable_without_naming_the_patient():
    record = the_patient(a_practice(), HardCase.MISSING_FILE)
    missing = record.documents[0].file

    with pytest.raises(RecordUnavailable) as raised:
        list(missing.chunks())
    assert record.demographics.last_name not in str(raised.value)


def test_an_unreadable_record_is_reported_as_a_failure_with_a_reason():
    record = the_patient(a_practice(), HardCase.UNREADABLE_RECORD)

    [failure] = record.failures
    assert failure.category is Category.LAB_RESULTS
    assert failure.record_id and failure.reason
    assert failure.record_id not in {r.id for r in record.lab_results}


# --- files ----------------------------------------------------------------------------------


def test_every_image_decodes_except_the_deliberately_corrupt_one():
    source = a_practice(patients=30)
    corrupt = the_patient(source, HardCase.CORRUPT_IMAGE).photo.file
    images = [
        blob
        for record in read_all(source)
        for _, blob in blobs_of(record)
        if blob.extension == "jpg" and blob != corrupt
    ]

    for blob in images:
        image = Image.open(io.BytesIO(b"".join(blob.chunks())))
        image.load()
        assert image.format == "JPEG" and image.width > 50

    assert len(images) > 10


def test_every_pdf_starts_and_ends_as_a_pdf_file():
    source = a_practice()
    pdfs = [
        blob
        for record in read_all(source)
        for where, blob in blobs_of(record)
        if blob.extension == "pdf" and not where.startswith(f"document {_missing_id(source)}")
    ]

    for blob in pdfs:
        data = b"".join(blob.chunks())
        assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")

    assert len(pdfs) > 40


def _missing_id(source: DemoSource) -> str:
    return the_patient(source, HardCase.MISSING_FILE).documents[0].id


# --- memory ---------------------------------------------------------------------------------


PEAK_RSS_READING = """
import resource, sys
from exports.sources.demo import DemoSource
source = DemoSource(100_000, 7, large_document_bytes=65536)
ids = (str(100001 + i) for i in range(int(sys.argv[1])))
for record in source.read_patients(ids):
    assert record.demographics.id
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kib_reading(patients: int) -> int:
    """Peak resident memory of a fresh interpreter that reads ``patients`` patients."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_READING, str(patients)],
        capture_output=True,
        check=True,
        text=True,
        timeout=120,
    )
    return int(result.stdout)


def test_reading_ten_times_more_patients_does_not_take_more_memory():
    # A child process each, so the measurement is the real resident peak. Not tracemalloc:
    # under it the traced peak kept rising with reads whose untraced memory stays flat.
    small = peak_rss_kib_reading(200)
    large = peak_rss_kib_reading(2000)

    assert large < small + 4 * 1024


def test_counting_a_large_practice_is_cheap_and_flat():
    source = DemoSource(5_000, 5)
    tracemalloc.start()
    try:
        counts = source.counts_in_source()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert counts[Category.PATIENTS] == 5_000
    assert peak < 1024 * 1024


def test_dates_stay_within_the_practice_history():
    for record in read_all(a_practice(patients=50)):
        d = record.demographics
        for appointment in record.appointments:
            assert date(2014, 12, 1) <= appointment.scheduled_time.date() <= date(2025, 6, 30)
            if d.date_of_birth:
                assert appointment.scheduled_time.date() >= d.date_of_birth


def test_immunization_records_list_their_vaccines_by_real_cvx_code():
    cvx = {vaccine.cvx: vaccine.display for vaccine in codes.vaccines()}
    listed = [
        (code.decode(), display.decode("cp1252"))
        for record in read_all(a_practice(patients=40))
        for document in record.documents
        if "Immunizations" in document.tags and isinstance(document.file, PdfFile)
        for code, display in re.findall(
            rb"\(CVX (\d+): (.+?), given \d\d/\d\d/\d{4}\)", b"".join(document.file.chunks())
        )
    ]

    assert listed
    assert all(cvx[code] == display for code, display in listed)
    assert codes.display_name(codes.CodeSystem.CVX, "140") == (
        "Influenza, seasonal, injectable, preservative free"
    )
    assert codes.CodeSystem.CVX.oid == "2.16.840.1.113883.12.292"
