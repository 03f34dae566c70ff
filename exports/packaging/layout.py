"""Every path of the deliverable, exactly as DESIGN.md draws it.

Paths are ``PurePosixPath`` values relative to the directory that *holds* the deliverable, so
their first segment is the root folder ``<Practice>_Data_Export_<YYYY-MM-DD>``: this is the
"path from the archive root" the workbook and the image index show, always with ``/``.

Choices where DESIGN.md leaves room (the customer sees them, keep them stable):

- A message is rendered as ``Message Center/<category>/{message_id}_{received_at}.txt`` (UTF-8,
  subject, sender, recipient, date and body); its attachments sit beside it as
  ``{message_id}_{received_at}_{attachment_id}.<ext>``.
- Faxes and referrals tied to the patient go to ``Message Center/Faxes/`` and
  ``Message Center/Referrals/`` as ``{id}_{received_at}.<ext>``.
- Lab report files (manual, Quest, LabCorp and integration results alike) go to
  ``Message Center/Lab Results/{lab_result_id}_{date_performed}.<ext>`` (``undated`` when the
  source has no date).
- Insurance card images are ``front.<ext>`` and ``back.<ext>`` in ``<Priority> Insurance/``.
- The manifest (``manifest.csv``) and the reconciliation (``reconciliation.csv``) sit beside the
  workbook in ``Clinical Data Export/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath

from exports.sources.records import Demographics, FaxOrReferralKind, InsurancePriority

from .naming import (
    date_part,
    id_part,
    patient_folder_name,
    practice_part,
    safe_part,
    safe_segment,
    timestamp_part,
)

CLINICAL_DATA_EXPORT = "Clinical Data Export"
PATIENT_RECORDS = "Patient Records"
CCDA_FILES = "CCDA Files"
CCDA_AS_RECEIVED = "As received from the EHR"
PATIENT_IMAGES_EXPORT = "Patient Images Export"
MESSAGE_CENTER = "Message Center"
SIGNED_CLINICAL_NOTES = "Signed Clinical Notes"
UPLOADED_DOCUMENTS = "Uploaded Documents"
FAXES = "Faxes"
REFERRALS = "Referrals"
LAB_RESULTS = "Lab Results"
WORKBOOK = "Patient_Data_Export.xlsx"
IMAGE_INDEX = "patient_images_index.csv"
MANIFEST = "manifest.csv"
RECONCILIATION = "reconciliation.csv"
PHOTO_STEM = "patient_photo"


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """The deliverable of one practice on one export date."""

    practice_name: str
    export_date: date
    #: ``<Practice>_Data_Export_<YYYY-MM-DD>``: the archive's first segment
    root: PurePosixPath = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = f"{practice_part(self.practice_name)}_Data_Export_{self.export_date}"
        object.__setattr__(self, "root", PurePosixPath(safe_segment(name)))

    @property
    def clinical(self) -> PurePosixPath:
        return self.root / CLINICAL_DATA_EXPORT

    @property
    def images(self) -> PurePosixPath:
        return self.root / PATIENT_IMAGES_EXPORT

    @property
    def workbook(self) -> PurePosixPath:
        return self.clinical / WORKBOOK

    @property
    def manifest(self) -> PurePosixPath:
        return self.clinical / MANIFEST

    @property
    def reconciliation(self) -> PurePosixPath:
        return self.clinical / RECONCILIATION

    @property
    def image_index(self) -> PurePosixPath:
        return self.images / IMAGE_INDEX

    def for_patient(self, demographics: Demographics) -> PatientPaths:
        return PatientPaths(self, patient_folder_name(demographics))


@dataclass(frozen=True, slots=True)
class PatientPaths:
    """The paths of one patient's files; ``folder`` is ``{id}_{chart_id}_{last}_{first}_{dob}``."""

    layout: ExportLayout
    folder: str

    @property
    def records(self) -> PurePosixPath:
        return self.layout.clinical / PATIENT_RECORDS / self.folder

    @property
    def images(self) -> PurePosixPath:
        return self.layout.images / self.folder

    @property
    def ccda(self) -> PurePosixPath:
        return self.layout.clinical / CCDA_FILES / f"{self.folder}.xml"

    @property
    def ccda_as_received(self) -> PurePosixPath:
        """The source's own C-CDA, kept as it came when it fails validation (ours ships)."""
        return self.layout.clinical / CCDA_FILES / CCDA_AS_RECEIVED / f"{self.folder}.xml"

    def message(self, category: str, message_id: str, received_at: datetime) -> PurePosixPath:
        return self._message_folder(category) / _name(
            id_part(message_id), timestamp_part(received_at), extension="txt"
        )

    def attachment(
        self,
        category: str,
        message_id: str,
        received_at: datetime,
        attachment_id: str,
        extension: str,
    ) -> PurePosixPath:
        return self._message_folder(category) / _name(
            id_part(message_id),
            timestamp_part(received_at),
            id_part(attachment_id),
            extension=extension,
        )

    def fax_or_referral(
        self, kind: FaxOrReferralKind, record_id: str, received_at: datetime, extension: str
    ) -> PurePosixPath:
        folder = FAXES if kind.is_fax else REFERRALS
        return (
            self.records
            / MESSAGE_CENTER
            / folder
            / _name(id_part(record_id), timestamp_part(received_at), extension=extension)
        )

    def lab_report(
        self, lab_result_id: str, date_performed: date | None, extension: str
    ) -> PurePosixPath:
        return (
            self.records
            / MESSAGE_CENTER
            / LAB_RESULTS
            / _name(id_part(lab_result_id), date_part(date_performed), extension=extension)
        )

    def clinical_note(self, note_id: str) -> PurePosixPath:
        return self.records / SIGNED_CLINICAL_NOTES / _name(id_part(note_id), extension="pdf")

    def document(self, document_id: str, extension: str) -> PurePosixPath:
        return self.records / UPLOADED_DOCUMENTS / _name(id_part(document_id), extension=extension)

    def photo(self, extension: str) -> PurePosixPath:
        return self.images / f"{PHOTO_STEM}.{extension}"

    def insurance_card(
        self, priority: InsurancePriority, side: str, extension: str
    ) -> PurePosixPath:
        return self.images / priority.folder_name / f"{side}.{extension}"

    def _message_folder(self, category: str) -> PurePosixPath:
        return (
            self.records
            / MESSAGE_CENTER
            / safe_segment(safe_part(category, placeholder="Messages"))
        )


def _name(*parts: str, extension: str) -> str:
    return safe_segment(f"{'_'.join(parts)}.{extension}")
