"""Small builders of practice records, blobs and a source for the packaging tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from PIL import Image

from exports.ccda.identity import PatientComparison
from exports.ccda.validate import SourceCcdaVerdict, Stage, ValidationProblem, ValidationResult
from exports.packaging import package
from exports.sources.base import ConnectionReport, PracticeSource
from exports.sources.records import (
    Allergy,
    Appointment,
    Attachment,
    Category,
    ClinicalNote,
    Demographics,
    Document,
    FaxOrReferral,
    FaxOrReferralKind,
    Insurance,
    InsurancePriority,
    LabResult,
    LabSource,
    Medication,
    Message,
    PatientRecord,
    PatientStatus,
    PatientUnreadable,
    Payment,
    PhotoRecord,
    Problem,
    RecordExclusion,
    RecordFailure,
    RecordUnavailable,
    Vitals,
)


def _image(kind: str) -> bytes:
    """A real, tiny image: packaging decodes images before shipping them."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 160)).save(buffer, kind)
    return buffer.getvalue()


JPEG = _image("JPEG")
PNG = _image("PNG")
PDF = b"%PDF-1.7\n" + b"\x03" * 200 + b"\n%%EOF\n"
HTML_ERROR_PAGE = b"<html><body>502 Bad Gateway</body></html>"


class BytesBlob:
    """A file held in memory, streamed in small chunks."""

    def __init__(self, data: bytes, extension: str = "pdf", chunk_size: int = 64) -> None:
        self.data = data
        self.extension = extension
        self.media_type = "application/octet-stream"
        self.size = len(data)
        self.chunk_size = chunk_size

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]


class UnavailableBlob:
    """A file the source lists but cannot deliver, failing after some bytes."""

    extension = "pdf"
    media_type = "application/pdf"
    size = None

    def chunks(self) -> Iterator[bytes]:
        yield b"%PDF-1.7 partial"
        raise RecordUnavailable("file truncated in source")


class GeneratedBlob:
    """A large file produced chunk by chunk, never held whole."""

    extension = "bin"
    media_type = "application/octet-stream"

    def __init__(self, chunk_count: int, chunk_size: int = 1 << 20) -> None:
        self.chunk_count = chunk_count
        self.chunk_size = chunk_size
        self.size = chunk_count * chunk_size

    def chunks(self) -> Iterator[bytes]:
        for index in range(self.chunk_count):
            yield bytes([index % 256]) * self.chunk_size


def demographics(**overrides: object) -> Demographics:
    values: dict[str, object] = {
        "id": "1001",
        "chart_id": "SMJO000001",
        "first_name": "Jane",
        "last_name": "Smith",
        "date_of_birth": date(1980, 4, 2),
        "date_of_birth_text": "1980-04-02",
        "status": PatientStatus.ACTIVE,
    }
    values.update(overrides)
    return Demographics(**values)  # type: ignore[arg-type]


def patient(**overrides: object) -> PatientRecord:
    return PatientRecord(demographics=demographics(**overrides))


def full_patient(patient_id: str = "1001", **overrides: object) -> PatientRecord:
    """A patient with one (or two) of every kind of record, all readable."""
    record = patient(id=patient_id, **overrides)
    record.insurances = [
        Insurance(
            id=f"{patient_id}-ins1",
            priority=InsurancePriority.PRIMARY,
            company="Aetna",
            is_current=True,
            member_id="W123",
            start_date=date(2022, 1, 1),
            card_front=BytesBlob(JPEG, "jpg"),
            card_back=BytesBlob(JPEG, "jpg"),
        ),
        Insurance(
            id=f"{patient_id}-ins0",
            priority=InsurancePriority.PRIMARY,
            company="Cigna",
            is_current=False,
            end_date=date(2021, 12, 31),
        ),
    ]
    record.payments = [
        Payment(id=f"{patient_id}-pay1", received_date=date(2024, 2, 1), amount=Decimal("25.50"))
    ]
    record.medications = [Medication(id=f"{patient_id}-med1", name="Lisinopril 10 mg")]
    record.allergies = [Allergy(id=f"{patient_id}-all1", description="Penicillin")]
    record.problems = [Problem(id=f"{patient_id}-prb1", name="Hypertension", icd10_code="I10")]
    record.appointments = [
        Appointment(
            id=f"{patient_id}-apt1",
            scheduled_time=datetime(2024, 3, 5, 14, 30),
            reason="Follow-up",
            icd10_codes=("I10", "E11.9"),
            vitals=Vitals(weight_lb=Decimal("180.5"), systolic_mmhg=128, diastolic_mmhg=82),
        )
    ]
    record.clinical_notes = [
        ClinicalNote(
            id=f"{patient_id}-note1",
            date=datetime(2024, 3, 5, 15, 0),
            locked=True,
            pdf=BytesBlob(PDF),
        ),
        ClinicalNote(id=f"{patient_id}-note2", date=datetime(2024, 3, 6, 9, 0), locked=False),
    ]
    record.documents = [
        Document(
            id=f"{patient_id}-doc1",
            date=date(2023, 7, 1),
            description="Referral letter",
            tags=("Referral", "Cardiology"),
            file=BytesBlob(b"scanned bytes", "tiff"),
        )
    ]
    record.lab_results = [
        LabResult(
            id=f"{patient_id}-lab1",
            source=LabSource.MANUAL,
            test_name="HbA1c",
            date_performed=date(2024, 1, 10),
            value="6.1",
            report=BytesBlob(PDF),
        ),
        LabResult(
            id=f"{patient_id}-lab2", source=LabSource.INTEGRATION, test_name="LDL", value="99"
        ),
    ]
    record.messages = [
        Message(
            id=f"{patient_id}-msg1",
            category="Onpatient Messages",
            received_at=datetime(2024, 3, 5, 14, 30),
            subject="Refill",
            body="Please refill.",
            attachments=(Attachment(id="att1", file=BytesBlob(PNG, "png"), name="rx.png"),),
        )
    ]
    record.faxes_and_referrals = [
        FaxOrReferral(
            id=f"{patient_id}-fax1",
            kind=FaxOrReferralKind.INCOMING_FAX,
            received_at=datetime(2024, 2, 2, 8, 0),
            patient_id=patient_id,
            file=BytesBlob(PDF),
        ),
        FaxOrReferral(
            id=f"{patient_id}-ref1",
            kind=FaxOrReferralKind.OUTBOUND_REFERRAL,
            received_at=datetime(2024, 2, 3, 8, 0),
            patient_id=patient_id,
            file=BytesBlob(PDF),
        ),
    ]
    record.photo = PhotoRecord(file=BytesBlob(JPEG, "jpg"), taken_on=date(2023, 1, 1))
    return record


def with_demographics(record: PatientRecord, **overrides: object) -> PatientRecord:
    record.demographics = replace(record.demographics, **overrides)
    return record


class ListSource(PracticeSource):
    """A practice made of the given records; counts what it holds, as a real source must."""

    kind = "test"

    def __init__(
        self,
        records: Iterable[PatientRecord],
        *,
        unreadable: Iterable[str] = (),
        unattached: Iterable[FaxOrReferral] = (),
        excluded: Iterable[RecordExclusion] = (),
        unreadable_with: Mapping[str, list[RecordFailure]] | None = None,
    ) -> None:
        """``unreadable_with``: unreadable patients, with the records they take down."""
        self.records = {record.id: record for record in records}
        self.dependents = dict(unreadable_with or {})
        self.unreadable = [*unreadable, *self.dependents]
        self.unattached = list(unattached)
        self.excluded = list(excluded)

    def patient_ids(self) -> Iterator[str]:
        yield from self.records
        yield from self.unreadable

    def read_patient(self, patient_id: str) -> PatientRecord:
        if patient_id in self.unreadable:
            raise PatientUnreadable(
                "patient record unavailable", self.dependents.get(patient_id, ())
            )
        return self.records[patient_id]

    def counts_in_source(self) -> Mapping[Category, int]:
        counts = dict.fromkeys(Category, 0)
        counts[Category.PATIENTS] = len(self.unreadable)
        counts[Category.FAXES_AND_REFERRALS] = len(self.unattached)
        for exclusion in self.excluded:
            counts[exclusion.category] += 1
        for dependents in self.dependents.values():
            for failure in dependents:
                counts[failure.category] += 1
        for record in self.records.values():
            for category, count in record.category_counts().items():
                counts[category] += count
        return counts

    def unattached_records(self) -> Iterator[FaxOrReferral]:
        yield from self.unattached

    def exclusions_outside_patients(self) -> Iterator[RecordExclusion]:
        yield from self.excluded

    def test_connection(self) -> ConnectionReport:
        return ConnectionReport(ok=True, patient_count=len(self.records), detail="in memory")


def build_ccd(record: PatientRecord) -> bytes:
    """A stand-in C-CDA generator: a tiny XML document naming the patient id."""
    return f"<ClinicalDocument><id extension='{record.id}'/></ClinicalDocument>".encode()


def validate_ccd(document: bytes) -> list[str]:
    """A stand-in validator: accepts what ``build_ccd`` makes."""
    return [] if document.startswith(b"<ClinicalDocument>") else ["not a ClinicalDocument"]


def validate_source_ccd(path: Path, patient: Demographics) -> SourceCcdaVerdict:
    """A stand-in for the checks a source's own C-CDA must pass: any ClinicalDocument is
    about the patient and valid; anything else names no patient and fails the schema."""
    if not validate_ccd(path.read_bytes()):
        return SourceCcdaVerdict(PatientComparison(named=True), ValidationResult(()))
    problem = ValidationProblem(Stage.XSD, 1, "/", "stand-in", "not a ClinicalDocument")
    return SourceCcdaVerdict(PatientComparison(named=False), ValidationResult((problem,)))


def package_source(source, staging: Path, batch_numbers, *, layout, **options):
    """Package a test source's extracted batches with what the source says it holds (its
    counts, unattached records and exclusions), as the package stage does."""
    return package(
        staging,
        batch_numbers,
        layout=layout,
        counts_in_source=source.counts_in_source(),
        unattached=source.unattached_records(),
        excluded_outside_patients=source.exclusions_outside_patients(),
        **options,
    )


def batch_manifest_rows(path: Path) -> Iterator[tuple[str, int, str]]:
    """A committed batch's manifest lines (``CommittedBatch.manifest_path``) as (path, bytes,
    SHA-256)."""
    with path.open(encoding="utf-8", errors="surrogatepass", newline="") as source:
        for file_path, size, sha256 in csv.reader(source):
            yield file_path, int(size), sha256
