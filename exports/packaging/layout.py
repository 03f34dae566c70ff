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

Every path has fewer than ``PATH_MAX_CHARS`` characters. The root's practice name is bounded;
a patient's folder fits what is left once ``PATIENT_INNER_RESERVE`` characters are kept for the
paths below it (its names shortened first, then its chart id, then its id written short); a
longer path below it (a long message category, long ids) has its category shortened, then its
ids written in their short form, then its date or time left out of the file's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath

from exports.sources.records import Demographics, FaxOrReferralKind, InsurancePriority

from .naming import (
    PATH_MAX_CHARS,
    date_part,
    id_part,
    path_chars,
    patient_folder_name,
    practice_part,
    safe_part,
    safe_segment,
    short_id_part,
    shorten,
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
#: characters kept for the paths below a patient's folder when its name is fitted: room for a
#: note, document, lab report, fax or a message with a short category, with ids of ~12
#: characters; and, in the worst case (ids in their short form, no stamp, a one-letter
#: category, a 10-letter extension, a clash number), for any file
PATIENT_INNER_RESERVE = 64
#: characters a message category's folder leaves for its files' names (a message's name with
#: ids of ~9 characters, an attachment's with shorter ones); a longer name is fitted on its own
MESSAGE_NAME_RESERVE = 40
#: room left for the number ``tree.PatientTree`` adds to a name that clashes (``front_2.jpg``)
CLASH_NUMBER_ROOM = 3


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """The deliverable of one practice on one export date."""

    practice_name: str
    export_date: date
    #: ``<Practice>_Data_Export_<YYYY-MM-DD>``: the archive's first segment
    root: PurePosixPath = field(init=False, repr=False, compare=False)
    #: its two parts (joined once: every patient's paths start with one of them)
    clinical: PurePosixPath = field(init=False, repr=False, compare=False)
    images: PurePosixPath = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = f"{practice_part(self.practice_name)}_Data_Export_{self.export_date}"
        root = PurePosixPath(safe_segment(name))
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "clinical", root / CLINICAL_DATA_EXPORT)
        object.__setattr__(self, "images", root / PATIENT_IMAGES_EXPORT)

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
        records = f"{self.clinical / PATIENT_RECORDS}/"
        budget = PATH_MAX_CHARS - 1 - path_chars(records) - PATIENT_INNER_RESERVE
        return PatientPaths(self, patient_folder_name(demographics, max_chars=budget))


@dataclass(frozen=True, slots=True)
class PatientPaths:
    """The paths of one patient's files; ``folder`` is ``{id}_{chart_id}_{last}_{first}_{dob}``."""

    layout: ExportLayout
    folder: str
    #: the patient's two folders, joined once: every path of theirs starts with one of them
    records: PurePosixPath = field(init=False, repr=False, compare=False)
    images: PurePosixPath = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", self.layout.clinical / PATIENT_RECORDS / self.folder)
        object.__setattr__(self, "images", self.layout.images / self.folder)

    @property
    def ccda(self) -> PurePosixPath:
        return self.layout.clinical / CCDA_FILES / f"{self.folder}.xml"

    @property
    def ccda_as_received(self) -> PurePosixPath:
        """The source's own C-CDA, kept as it came when it fails validation (ours ships)."""
        return self.layout.clinical / CCDA_FILES / CCDA_AS_RECEIVED / f"{self.folder}.xml"

    @property
    def entries(self) -> tuple[PurePosixPath, ...]:
        """Everything that is this patient's alone: its folders and C-CDA files."""
        return (self.records, self.images, *self.ccda_entries)

    @property
    def ccda_entries(self) -> tuple[PurePosixPath, ...]:
        """The patient's C-CDA files: what a source's final C-CDA pass replaces."""
        return (self.ccda, self.ccda_as_received)

    def message(self, category: str, message_id: str, received_at: datetime) -> PurePosixPath:
        return self._fitted(
            self._message_folder, category, (message_id,), timestamp_part(received_at), "txt"
        )

    def attachment(
        self,
        category: str,
        message_id: str,
        received_at: datetime,
        attachment_id: str,
        extension: str,
    ) -> PurePosixPath:
        return self._fitted(
            self._message_folder,
            category,
            (message_id, attachment_id),
            timestamp_part(received_at),
            extension,
        )

    def fax_or_referral(
        self, kind: FaxOrReferralKind, record_id: str, received_at: datetime, extension: str
    ) -> PurePosixPath:
        folder = FAXES if kind.is_fax else REFERRALS
        return self._fitted(
            self._fixed_folder, folder, (record_id,), timestamp_part(received_at), extension
        )

    def lab_report(
        self, lab_result_id: str, date_performed: date | None, extension: str
    ) -> PurePosixPath:
        return self._fitted(
            self._fixed_folder, LAB_RESULTS, (lab_result_id,), date_part(date_performed), extension
        )

    def clinical_note(self, note_id: str) -> PurePosixPath:
        return self._fitted_name(self.records / SIGNED_CLINICAL_NOTES, (note_id,), None, "pdf")

    def document(self, document_id: str, extension: str) -> PurePosixPath:
        return self._fitted_name(self.records / UPLOADED_DOCUMENTS, (document_id,), None, extension)

    def photo(self, extension: str) -> PurePosixPath:
        return self.images / f"{PHOTO_STEM}.{extension}"

    def insurance_card(
        self, priority: InsurancePriority, side: str, extension: str
    ) -> PurePosixPath:
        return self.images / priority.folder_name / f"{side}.{extension}"

    def _fitted(
        self,
        folder_of: Callable[[str, int | None], PurePosixPath],
        folder_name: str,
        ids: tuple[str, ...],
        stamp: str,
        extension: str,
    ) -> PurePosixPath:
        """``<folder>/{ids[0]}_{stamp}[_{ids[1]}].<ext>`` in ``Message Center``, fitted: the
        folder's name (when it is free text) is shortened to leave ``MESSAGE_NAME_RESERVE``
        characters for file names, whatever this file's name, so a category's files share one
        folder; then the file's name is fitted."""
        full = folder_of(folder_name, None)
        room = PATH_MAX_CHARS - 1 - CLASH_NUMBER_ROOM
        excess = path_chars(str(full)) + 1 + MESSAGE_NAME_RESERVE - room
        folder = full if excess <= 0 else folder_of(folder_name, path_chars(full.name) - excess)
        return self._fitted_name(folder, ids, stamp, extension)

    def _fitted_name(
        self, folder: PurePosixPath, ids: tuple[str, ...], stamp: str | None, extension: str
    ) -> PurePosixPath:
        """``folder/<name of ids and stamp>``; when that is too long, the ids in their short
        form, and then without the stamp (the workbook still gives the file's date)."""
        for candidate_ids, candidate_stamp in (
            (map(id_part, ids), stamp),
            (map(short_id_part, ids), stamp),
        ):
            name = _name(*_with_stamp(candidate_ids, candidate_stamp), extension=extension)
            if path_chars(f"{folder}/{name}") < PATH_MAX_CHARS - CLASH_NUMBER_ROOM:
                return folder / name
        return folder / _name(*map(short_id_part, ids), extension=extension)

    def _message_folder(self, category: str, max_chars: int | None) -> PurePosixPath:
        name = safe_part(category, placeholder="Messages")
        if max_chars is not None:
            name = shorten(name, max_chars, placeholder="Messages")
        return self.records / MESSAGE_CENTER / safe_segment(name)

    def _fixed_folder(self, name: str, _max_chars: int | None) -> PurePosixPath:
        return self.records / MESSAGE_CENTER / name


def _with_stamp(ids: Iterable[str], stamp: str | None) -> list[str]:
    """``[id0, stamp, id1...]``: the stamp after the first id, as the layout names files."""
    first, *rest = ids
    return [first, *([stamp] if stamp is not None else []), *rest]


def _name(*parts: str, extension: str) -> str:
    return safe_segment(f"{'_'.join(parts)}.{extension}")
