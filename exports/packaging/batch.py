"""Extraction of one batch of patients into the staging tree and the batch's spool.

``extract_batch`` can run anywhere the staging folder is shared, in parallel with other
batches, and more than once: each patient's folders are cleared and rewritten, and the spool
of the new run replaces the old one as a whole (see ``spool``). Memory holds one patient's
record at a time; file contents stream to disk in the source's chunks.

What becomes of each record (the reconciliation counts exactly this):

- Every patient read is exported (a row in Patients, inactive and deceased included); a patient
  the source cannot read (``RecordUnavailable``) is failed, listed by id with the reason, and
  so are the records the source says go down with it (``PatientUnreadable.dependents``).
- Rows only (exported): insurance history, payments, medications, immunizations, allergies,
  problems, appointments, messages (their text file is ours, it cannot be unavailable).
- Files: signed clinical notes, documents, message attachments, faxes and referrals, lab
  reports, the photo and insurance cards are exported when their file is written, otherwise
  failed with the reason (unavailable in the source, no file in the source, content not what
  the name promises). Failed files still get their workbook row, with an empty path.
- Excluded: unlocked notes, appointments deleted from the source's calendar (a signed note on
  one is still exported: DESIGN ships every locked note), and faxes/referrals with no patient.
- Failures the source reported in ``PatientRecord.failures`` are counted as failed.
- The C-CDA (one per patient exported): the source's own (``PatientRecord.ccda``) when it is
  about this patient (name, birth date, sex, and id where it gives one) and passes the CDA R2
  schema with SDTC and the C-CDA R2.1 Schematron errors phase (``source_ccda_validator``), since
  it is the EHR's own account of the patient; otherwise our generated CCD (``ccda_builder``),
  which must pass ``ccda_validator`` (the same two) or is not shipped and is counted failed.
  Ours rather than a failure: the customer still gets a valid C-CDA for every patient, with
  the data the workbook holds, and one bad document from the EHR does not hold up the export.
  The patient's CCDA Files row says why ours was shipped ("exported (generated; ...)").
  What becomes of the source's document is counted in its own reconciliation line: shipped;
  kept as received under ``CCDA Files/As received from the EHR/`` (same file name, its own
  row) when it is about the patient but fails validation, so nothing the EHR produced is lost;
  excluded, with the reason, when it is about someone else or no one (it must not be filed
  under this patient) or cannot be had.
- Immunizations (vaccine records) have no sheet of their own (DESIGN.md fixes the workbook's
  sheets): each is a row of the Medications sheet, named "(immunization, CVX ...)", counted in
  its own reconciliation line, and an entry of our C-CDA's Immunizations section. The
  source's own C-CDA ships only when it also lists every one of them by CVX code (else it is
  kept as received, and ours ships), so the patient's C-CDA never lacks them.

A source whose own C-CDA costs an API call per patient (``fetches_ccda_per_patient``: DrChrono's
hourly allowance) has its batches run in two passes: ``BatchPart.RECORDS`` first, every batch's
rows and files but no C-CDA; then, once every batch's records are in, ``BatchPart.CCDAS``, the
C-CDA choice above for each patient, under its own batch number. A spent allowance then holds
up only the C-CDAs, everything else already on disk, and each patient's C-CDA is chosen (and
its row and count spooled) before packaging reads any batch.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from exports.ccda.vaccines import vaccines_not_listed
from exports.ccda.validate import SourceCcdaVerdict
from exports.sources.base import PracticeSource
from exports.sources.records import (
    NOT_TIED_TO_A_PATIENT,
    Blob,
    Category,
    Demographics,
    FaxOrReferral,
    Insurance,
    LabResult,
    Message,
    PatientRecord,
    PatientUnreadable,
    RecordUnavailable,
)
from exports.timings import StageTimings, measured

from . import rows
from .image_index import image_row
from .layout import FAXES, REFERRALS, ExportLayout
from .message_file import render_message
from .naming import extension_part
from .reconciliation import CCDA_FILES, SOURCE_CCDAS, Tally
from .spool import BatchSpool
from .tree import Expect, PatientTree, UnusableContent, WrittenFile

logger = logging.getLogger(__name__)

#: makes the patient's CCD (XML bytes); any exception counts that patient's CCD failed
CcdaBuilder = Callable[[PatientRecord], bytes]
#: the problems found in a CCD, empty when it is valid (only their number is reported: their
#: text may quote clinical content)
CcdaValidator = Callable[[bytes], Sequence[object]]
#: whether a C-CDA the source gave (spooled to a file: it may be large) is about this patient
#: and valid
SourceCcdaValidator = Callable[[Path, Demographics], SourceCcdaVerdict]

UNLOCKED_NOTE = "unlocked note (only signed notes are exported)"
ARCHIVED_APPOINTMENT = "deleted from the calendar in the source"
NO_FILE_IN_SOURCE = "no file in the source"


# Records that become one workbook row each and nothing else.
_ROWS_ONLY: tuple[tuple[Category, rows.Sheet, Callable[[PatientRecord], list[Any]], Any], ...] = (
    (Category.PAYMENTS, rows.PATIENT_PAYMENTS, lambda r: r.payments, rows.payment_row),
    (Category.MEDICATIONS, rows.MEDICATIONS, lambda r: r.medications, rows.medication_row),
    (Category.IMMUNIZATIONS, rows.MEDICATIONS, lambda r: r.immunizations, rows.immunization_row),
    (Category.ALLERGIES, rows.ALLERGIES, lambda r: r.allergies, rows.allergy_row),
    (Category.PROBLEMS, rows.PROBLEMS, lambda r: r.problems, rows.problem_row),
)


class BatchPart(enum.Enum):
    """What a batch run writes for its patients."""

    ALL = "all"  # rows, files and the C-CDA
    RECORDS = "records"  # rows and files: the C-CDAs come in a pass of their own
    CCDAS = "ccdas"  # the C-CDAs only (a patient the records pass could not read is skipped)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did, for progress and logs (no PHI)."""

    batch_no: int
    patients_exported: int
    patients_failed: int
    files: int
    bytes: int
    records_failed: int


def tree_dir(staging: Path) -> Path:
    """The folder holding the deliverable's root folder."""
    return staging / "tree"


def extract_batch(
    source: PracticeSource,
    patient_ids: Iterable[str],
    staging: Path,
    batch_no: int,
    *,
    layout: ExportLayout,
    ccda_builder: CcdaBuilder,
    ccda_validator: CcdaValidator,
    source_ccda_validator: SourceCcdaValidator,
    part: BatchPart = BatchPart.ALL,
    timings: StageTimings | None = None,
) -> BatchResult:
    """Write these patients' files (``part`` of them) and rows into a fresh run of the batch's
    spool, commit it, then file its patients' folders into ``staging/tree``.

    ``TransientSourceError`` and I/O errors propagate (the run is discarded, the caller
    retries); a re-run replaces the earlier run's files and rows. Filing is finished by the
    package step if this process dies during it. ``timings`` (for the
    benchmark) gets the time spent reading the source (its records, and its files' bytes as
    they are pulled), building and validating C-CDAs, and in the whole batch ("batch": its
    records and bytes are the files written).
    """
    read_patient = source.read_patient
    chunks_of = _chunks
    if timings is not None:
        read_patient = timings.timed("source", read_patient)
        # A file's bytes are the source's work too (made, or downloaded, as they are read).
        chunks_of = timings.timed_iteration("source", chunks_of)
        ccda_builder = timings.timed("ccda build", ccda_builder, size_of=len)
        ccda_validator = timings.timed("ccda validate", ccda_validator)
        source_ccda_validator = timings.timed("ccda validate", source_ccda_validator)
    tally = Tally()
    with measured(timings, "batch") as batch_stage:
        with BatchSpool(staging, batch_no, layout.workbook.parent) as spool:
            made_folders: set[PurePosixPath] = set()  # in this run's tree, by all its patients
            for patient_id in patient_ids:
                try:
                    record = read_patient(patient_id)
                except RecordUnavailable as exc:
                    if part is BatchPart.CCDAS:
                        continue  # counted failed, with its records, by the records pass
                    reason = _reason(exc)
                    tally.failed(Category.PATIENTS, patient_id, reason)
                    spool.add_row(rows.PATIENTS, rows.unreadable_patient_row(patient_id, reason))
                    if isinstance(exc, PatientUnreadable):
                        for failure in exc.dependents:
                            tally.failed(failure.category, failure.record_id, failure.reason)
                    continue
                export = _PatientExport(
                    record,
                    layout,
                    PatientTree(spool.tree_dir, made_folders),
                    spool,
                    tally,
                    ccda_builder,
                    ccda_validator,
                    source_ccda_validator,
                    chunks_of,
                )
                if part is BatchPart.CCDAS:
                    export.ccda_only()
                else:
                    export.run(with_ccda=part is BatchPart.ALL)
            spool.commit(tally)
        # Committed: a failure while filing must not discard the run (the package step ends it).
        spool.publish(tree_dir(staging))
    result = BatchResult(
        batch_no=batch_no,
        patients_exported=tally.line(Category.PATIENTS).exported,
        patients_failed=tally.line(Category.PATIENTS).failed.total(),
        files=spool.files,
        bytes=spool.bytes,
        records_failed=tally.total_failed(),
    )
    batch_stage.records += result.files
    batch_stage.bytes += result.bytes
    logger.info(
        "Batch %d extracted: %d patients, %d unreadable, %d files, %d bytes, %d records failed",
        result.batch_no,
        result.patients_exported,
        result.patients_failed,
        result.files,
        result.bytes,
        result.records_failed,
    )
    return result


class _PatientExport:
    """One patient's files, rows, image-index rows and counts."""

    def __init__(
        self,
        record: PatientRecord,
        layout: ExportLayout,
        tree: PatientTree,
        spool: BatchSpool,
        tally: Tally,
        ccda_builder: CcdaBuilder,
        ccda_validator: CcdaValidator,
        source_ccda_validator: SourceCcdaValidator,
        chunks_of: Callable[[Blob], Iterable[bytes]],
    ) -> None:
        self.record = record
        self.patient = record.demographics
        self.layout = layout
        self.paths = layout.for_patient(record.demographics)
        self.tree = tree
        self.spool = spool
        self.tally = tally
        self.ccda_builder = ccda_builder
        self.ccda_validator = ccda_validator
        self.source_ccda_validator = source_ccda_validator
        self.chunks_of = chunks_of

    def run(self, *, with_ccda: bool) -> None:
        record, patient = self.record, self.patient
        self.spool.add_patient(self.paths.entries)
        self._rows_only(Category.PATIENTS, rows.PATIENTS, [rows.patient_row(patient)])
        for insurance in record.insurances:
            self._insurance(insurance)
        for category, sheet, items_of, row_of in _ROWS_ONLY:
            self._rows_only(category, sheet, [row_of(patient, item) for item in items_of(record)])
        for appointment in record.appointments:
            if appointment.archived:
                self.tally.excluded(Category.APPOINTMENTS, ARCHIVED_APPOINTMENT)
                continue
            self._rows_only(
                Category.APPOINTMENTS,
                rows.APPOINTMENTS,
                [rows.appointment_row(patient, appointment)],
            )
        for note in record.clinical_notes:
            if not note.locked:
                self.tally.excluded(Category.CLINICAL_NOTES, UNLOCKED_NOTE)
                continue
            path, status = self._ship(
                Category.CLINICAL_NOTES,
                note.id,
                self.paths.clinical_note(note.id),
                note.pdf,
                Expect.PDF,
            )
            self.spool.add_row(
                rows.SIGNED_CLINICAL_NOTES, rows.clinical_note_row(patient, note, path, status)
            )
        for document in record.documents:
            extension = extension_part(document.file.extension) if document.file else "bin"
            path, status = self._ship(
                Category.DOCUMENTS,
                document.id,
                self.paths.document(document.id, extension),
                document.file,
            )
            self.spool.add_row(
                rows.UPLOADED_DOCUMENTS, rows.document_row(patient, document, path, status)
            )
        for lab in record.lab_results:
            self._lab_result(lab)
        for message in record.messages:
            self._message(message)
        for fax_or_referral in record.faxes_and_referrals:
            self._fax_or_referral(fax_or_referral)
        if record.photo is not None:
            path, _status = self._ship(
                Category.PATIENT_PHOTOS,
                patient.id,
                self.paths.photo("jpg"),
                record.photo.file,
                Expect.IMAGE,
            )
            if path is not None:
                self.spool.add_image(image_row(patient, path, taken_on=record.photo.taken_on))
        if with_ccda:
            self._ccda()
        for failure in record.failures:
            self.tally.failed(failure.category, failure.record_id, failure.reason)

    def ccda_only(self) -> None:
        self.spool.add_patient(self.paths.ccda_entries)
        self._ccda()

    def _rows_only(
        self, category: Category, sheet: rows.Sheet, sheet_rows: list[tuple[rows.Value, ...]]
    ) -> None:
        for row in sheet_rows:
            self.spool.add_row(sheet, row)
        self.tally.exported(category, len(sheet_rows))

    def _ship(
        self,
        category: str,
        record_id: str,
        path: PurePosixPath,
        blob: Blob | None,
        expect: Expect = Expect.ANY,
    ) -> tuple[PurePosixPath | None, str]:
        """Write one record's file and count the record: (path, status) for its row."""
        if blob is None:
            self.tally.failed(category, record_id, NO_FILE_IN_SOURCE)
            return None, rows.failed_status(NO_FILE_IN_SOURCE)
        try:
            written = self.tree.write(path, self.chunks_of(blob), expect)
        except (RecordUnavailable, UnusableContent) as exc:
            reason = _reason(exc)
            self.tally.failed(category, record_id, reason)
            return None, rows.failed_status(reason)
        self.spool.add_file(written)
        self.tally.exported(category)
        return written.path, rows.EXPORTED

    def _insurance(self, insurance: Insurance) -> None:
        card_paths: dict[str, PurePosixPath | None] = {}
        for side, blob in (("front", insurance.card_front), ("back", insurance.card_back)):
            card_paths[side] = None
            if blob is None:
                continue
            path, _status = self._ship(
                Category.INSURANCE_CARD_IMAGES,
                f"{insurance.id}:{side}",
                self.paths.insurance_card(insurance.priority, side, "jpg"),
                blob,
                Expect.IMAGE,
            )
            card_paths[side] = path
            if path is not None:
                self.spool.add_image(
                    image_row(
                        self.patient,
                        path,
                        taken_on=insurance.start_date,
                        priority=insurance.priority,
                        side=side,
                    )
                )
        self._rows_only(
            Category.INSURANCE,
            rows.INSURANCE_HISTORY,
            [rows.insurance_row(self.patient, insurance, card_paths["front"], card_paths["back"])],
        )

    def _lab_result(self, lab: LabResult) -> None:
        category = Category.INTEGRATION_LAB_RESULTS if lab.is_integration else Category.LAB_RESULTS
        sheet = rows.INTEGRATION_LAB_RESULTS if lab.is_integration else rows.LAB_RESULTS
        if lab.report is None:
            path, status = None, rows.EXPORTED
            self.tally.exported(category)
        else:
            path, status = self._ship(
                category,
                lab.id,
                self.paths.lab_report(
                    lab.id, lab.date_performed, extension_part(lab.report.extension)
                ),
                lab.report,
            )
        self.spool.add_row(sheet, rows.lab_result_row(self.patient, lab, path, status))

    def _message(self, message: Message) -> None:
        written = self.tree.write(
            self.paths.message(message.category, message.id, message.received_at),
            [render_message(message)],
        )
        self.spool.add_file(written)
        self.tally.exported(Category.MESSAGES)
        self.spool.add_row(
            rows.MESSAGE_CENTER, rows.message_row(self.patient, message, written.path)
        )
        for attachment in message.attachments:
            path, status = self._ship(
                Category.MESSAGE_ATTACHMENTS,
                attachment.id,
                self.paths.attachment(
                    message.category,
                    message.id,
                    message.received_at,
                    attachment.id,
                    extension_part(attachment.file.extension),
                ),
                attachment.file,
            )
            self.spool.add_row(
                rows.MESSAGE_CENTER,
                rows.attachment_row(
                    self.patient, message, attachment.id, attachment.name, path, status
                ),
            )

    def _fax_or_referral(self, record: FaxOrReferral) -> None:
        if record.patient_id is None:
            self.tally.excluded(Category.FAXES_AND_REFERRALS, NOT_TIED_TO_A_PATIENT)
            return
        extension = extension_part(record.file.extension) if record.file else "bin"
        path, status = self._ship(
            Category.FAXES_AND_REFERRALS,
            record.id,
            self.paths.fax_or_referral(record.kind, record.id, record.received_at, extension),
            record.file,
        )
        category = FAXES if record.kind.is_fax else REFERRALS
        self.spool.add_row(
            rows.FAXES_AND_REFERRALS,
            rows.fax_or_referral_row(self.patient, record, category, path, status),
        )

    def _ccda(self) -> None:
        """The source's own C-CDA when it may ship, else ours (see the module doc)."""
        not_used = ""
        if self.record.ccda is not None:
            not_used = self._source_ccda(self.record.ccda)
            if not not_used:
                return
        self._generated_ccda(not_used)

    def _source_ccda(self, blob: Blob) -> str:
        """Ship the source's C-CDA, or keep it as received; "" when shipped, else why not.

        It is written once, where the patient's C-CDA goes, and moved aside when it is only
        kept: a source's document is downloaded once however it turns out.
        """
        self.tally.received(SOURCE_CCDAS)
        verdicts: list[SourceCcdaVerdict] = []
        lacking = ""

        def check(path: Path) -> None:
            nonlocal lacking
            verdicts.append(self.source_ccda_validator(path, self.patient))
            if not (verdicts[-1].is_usable or verdicts[-1].keep_as_received):
                raise UnusableContent(verdicts[-1].reason())
            if verdicts[-1].is_usable:
                lacking = vaccines_not_listed(path, self.record.immunizations)

        try:
            written = self.tree.write(self.paths.ccda, self.chunks_of(blob), check=check)
        except (RecordUnavailable, UnusableContent) as exc:
            not_used = _reason(exc)
            # Not a failure of the export: the patient gets ours, and the row says why.
            self.tally.excluded(SOURCE_CCDAS, f"not used: {not_used}")
            logger.warning("Source C-CDA not used for patient %s: %s", self.patient.id, not_used)
            return not_used
        self.tally.exported(SOURCE_CCDAS)
        if verdicts[-1].is_usable and not lacking:
            self._ccda_exported(written, rows.EXPORTED, rows.SOURCE_CCDA_DOCUMENT_TYPE)
            return ""
        not_used = verdicts[-1].reason() or lacking
        kept = self.tree.move(written, self.paths.ccda_as_received)
        self._ccda_row(
            kept,
            f"{rows.EXPORTED} (kept as received; not shipped as the patient's C-CDA: {not_used})",
            rows.INCOMPLETE_CCDA_DOCUMENT_TYPE if lacking else rows.AS_RECEIVED_CCDA_DOCUMENT_TYPE,
        )
        logger.warning(
            "Source C-CDA kept as received for patient %s: %s", self.patient.id, not_used
        )
        return f"{not_used}; kept in {kept.path.parent.name}/"

    def _generated_ccda(self, source_not_used: str) -> None:
        reason = ""
        try:
            document = self.ccda_builder(self.record)
        except Exception as exc:  # one patient's bad data must not stop the others' export
            # The exception's message may quote clinical content: log and report its type only.
            reason = f"C-CDA could not be built ({type(exc).__name__})"
            logger.warning("C-CDA build failed for patient %s: %s", self.patient.id, reason)
        else:
            problems = self.ccda_validator(document)
            if problems:
                reason = f"C-CDA failed validation ({len(problems)} problems)"
        if reason:
            self.tally.failed(CCDA_FILES, self.patient.id, reason)
            self.spool.add_row(
                rows.CCDA_FILES,
                rows.ccda_row(
                    self.patient, self.layout.export_date, None, rows.failed_status(reason)
                ),
            )
            return
        status = rows.EXPORTED
        if source_not_used:
            status = (
                f"{rows.EXPORTED} (generated; the source's C-CDA was not used: {source_not_used})"
            )
        written = self.tree.write(self.paths.ccda, [document])
        self._ccda_exported(written, status, rows.CCDA_DOCUMENT_TYPE)

    def _ccda_exported(self, written: WrittenFile, status: str, document_type: str) -> None:
        self.tally.exported(CCDA_FILES)
        self._ccda_row(written, status, document_type)

    def _ccda_row(self, written: WrittenFile, status: str, document_type: str) -> None:
        self.spool.add_file(written)
        self.spool.add_row(
            rows.CCDA_FILES,
            rows.ccda_row(
                self.patient, self.layout.export_date, written.path, status, document_type
            ),
        )


def _chunks(blob: Blob) -> Iterable[bytes]:
    return blob.chunks()


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
