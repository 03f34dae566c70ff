"""What a practice data source yields: one ``PatientRecord`` at a time, files as streams.

Every source (the synthetic demo practice, the DrChrono API, ...) speaks these types, so
extraction and packaging never know where the data came from. Records are small; file
contents are never held here, only ``Blob`` handles that stream their bytes on demand.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable


class Category(enum.StrEnum):
    """A kind of record the deliverable accounts for, one line each in the reconciliation."""

    PATIENTS = "patients"
    INSURANCE = "insurance"
    INSURANCE_CARD_IMAGES = "insurance_card_images"
    PATIENT_PHOTOS = "patient_photos"
    PAYMENTS = "patient_payments"
    MEDICATIONS = "medications"
    ALLERGIES = "allergies"
    PROBLEMS = "problems"
    IMMUNIZATIONS = "immunizations"
    APPOINTMENTS = "appointments"
    CLINICAL_NOTES = "clinical_notes"
    DOCUMENTS = "documents"
    LAB_RESULTS = "lab_results"
    INTEGRATION_LAB_RESULTS = "integration_lab_results"
    MESSAGES = "messages"
    MESSAGE_ATTACHMENTS = "message_attachments"
    FAXES_AND_REFERRALS = "faxes_and_referrals"

    @property
    def label(self) -> str:
        return _CATEGORY_LABELS[self]


_CATEGORY_LABELS = {
    Category.PATIENTS: "Patients",
    Category.INSURANCE: "Insurance History",
    Category.INSURANCE_CARD_IMAGES: "Insurance card images",
    Category.PATIENT_PHOTOS: "Patient photos",
    Category.PAYMENTS: "Patient Payments",
    Category.MEDICATIONS: "Medications",
    Category.ALLERGIES: "Allergies",
    Category.PROBLEMS: "Problems",
    Category.IMMUNIZATIONS: "Immunizations",
    Category.APPOINTMENTS: "Appointments",
    Category.CLINICAL_NOTES: "Signed Clinical Notes",
    Category.DOCUMENTS: "Uploaded Documents",
    Category.LAB_RESULTS: "Lab Results",
    Category.INTEGRATION_LAB_RESULTS: "Integration Lab Results",
    Category.MESSAGES: "Message Center",
    Category.MESSAGE_ATTACHMENTS: "Message attachments",
    Category.FAXES_AND_REFERRALS: "Faxes and Referrals",
}


#: why a record tied to no patient is left out: the deliverable is filed by patient
NOT_TIED_TO_A_PATIENT = "not tied to a patient"


class SourceError(Exception):
    """The source cannot answer. Messages never carry PHI: they are logged and shown."""


class TransientSourceError(SourceError):
    """Worth retrying later: a timeout, a throttle that outlasted our patience, a 5xx."""


class SourceAsksToWait(TransientSourceError):
    """The source will answer again in ``retry_after`` seconds (a spent hourly allowance, a
    long throttle). Not a failure: the work waits that long, however often it happens."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecordUnavailable(SourceError):
    """One record (or one file) cannot be read after the source's own retries."""


#: why a patient's other records are failed when the patient's own record cannot be read
PATIENT_UNREADABLE = "the patient's record could not be read"


class PatientUnreadable(RecordUnavailable):
    """A patient the source holds but cannot read. ``dependents`` are the patient's other
    records, which the source counted and which go down with it: each is counted failed
    (``PATIENT_UNREADABLE``), so the reconciliation lists what is missing instead of not
    balancing."""

    def __init__(self, message: str, dependents: Iterable[RecordFailure] = ()) -> None:
        super().__init__(message)
        self.dependents = tuple(dependents)


@runtime_checkable
class Blob(Protocol):
    """A file held by the source. ``chunks()`` streams it; nothing is read before that.

    ``chunks()`` raises ``RecordUnavailable`` when the file cannot be had (missing, truncated,
    wrong type, too large). ``size`` is what the source claims, when it knows.
    """

    extension: str  # lower case, no dot: "pdf", "jpg", "png", "txt", ...
    media_type: str
    size: int | None

    def chunks(self) -> Iterator[bytes]: ...


class PatientStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DECEASED = "deceased"


class InsurancePriority(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    TERTIARY = "tertiary"

    @property
    def folder_name(self) -> str:
        return f"{self.value.capitalize()} Insurance"


class LabSource(enum.StrEnum):
    """How a result reached the practice: entered (or scanned) by hand, or electronically
    through a lab integration: Quest, LabCorp, or another network (HealthGorilla, ...)."""

    MANUAL = "manual"
    QUEST = "quest"
    LABCORP = "labcorp"
    INTEGRATION = "integration"  # HealthGorilla and other integrated lab networks

    @property
    def category(self) -> Category:
        """Every result that arrived through a lab integration, whichever the lab, is an
        Integration Lab Result; the practice's own entries are Lab Results."""
        if self is LabSource.MANUAL:
            return Category.LAB_RESULTS
        return Category.INTEGRATION_LAB_RESULTS


class FaxOrReferralKind(enum.StrEnum):
    INCOMING_FAX = "incoming_fax"
    OUTGOING_FAX = "outgoing_fax"
    INBOUND_REFERRAL = "inbound_referral"
    OUTBOUND_REFERRAL = "outbound_referral"

    @property
    def is_fax(self) -> bool:
        return self in (FaxOrReferralKind.INCOMING_FAX, FaxOrReferralKind.OUTGOING_FAX)


@dataclass(frozen=True, slots=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""


@dataclass(frozen=True, slots=True)
class Demographics:
    id: str
    chart_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    date_of_birth_text: str  # as the source gave it: kept when missing or impossible
    status: PatientStatus
    middle_name: str = ""
    nick_name: str = ""
    gender: str = ""  # Male, Female, Other, UNK, ASKU or ""
    date_of_death: date | None = None
    email: str = ""
    home_phone: str = ""
    cell_phone: str = ""
    address: Address = field(default_factory=Address)
    social_security_number: str = ""
    race: str = ""
    ethnicity: str = ""
    preferred_language: str = ""
    primary_provider: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Insurance:
    id: str
    priority: InsurancePriority
    company: str
    is_current: bool
    payer_id: str = ""
    plan_name: str = ""
    plan_type: str = ""
    member_id: str = ""
    group_name: str = ""
    group_number: str = ""
    subscriber_name: str = ""
    relationship_to_subscriber: str = ""
    start_date: date | None = None
    end_date: date | None = None
    card_front: Blob | None = None  # card images only for current coverage
    card_back: Blob | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    received_date: date | None
    amount: Decimal
    method: str = ""  # CASH, CHCK, CRDT, ...
    transaction_type: str = ""
    posted_date: date | None = None
    trace_number: str = ""
    appointment_id: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Medication:
    id: str
    name: str
    rxnorm: str = ""
    ndc: str = ""
    dosage_quantity: str = ""
    dosage_units: str = ""
    frequency: str = ""
    route: str = ""
    status: str = ""  # active, inactive, discontinued
    date_prescribed: date | None = None
    date_started: date | None = None
    date_stopped: date | None = None
    prescriber: str = ""
    indication: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Allergy:
    id: str
    description: str
    reaction: str = ""
    severity: str = ""
    status: str = ""  # active, inactive
    snomed_code: str = ""  # the allergen, when coded in SNOMED CT
    rxnorm: str = ""  # the allergen, when it is a drug
    snomed_reaction: str = ""
    onset_date: date | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    name: str
    icd10_code: str = ""
    snomed_code: str = ""
    status: str = ""  # active, inactive, resolved
    date_onset: date | None = None
    date_diagnosis: date | None = None
    date_resolved: date | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Immunization:
    """A vaccine given (or refused), from the practice's vaccine records."""

    id: str
    vaccine: str  # the name as the source gives it
    cvx_code: str = ""  # CDC CVX
    administered_on: date | None = None
    status: str = ""  # "completed" (given) unless the source says "refused", "not given", ...
    lot_number: str = ""
    manufacturer: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Vitals:
    """As DrChrono records them: US customary units."""

    height_in: Decimal | None = None
    weight_lb: Decimal | None = None
    bmi: Decimal | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    pulse_bpm: int | None = None
    temperature_f: Decimal | None = None
    respiratory_rate: int | None = None
    oxygen_saturation: int | None = None
    pain: int | None = None
    smoking_status: str = ""

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, "") for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    scheduled_time: datetime
    duration_minutes: int = 0
    reason: str = ""
    provider: str = ""
    office: str = ""
    status: str = ""
    icd10_codes: tuple[str, ...] = ()
    vitals: Vitals | None = None
    notes: str = ""
    archived: bool = False  # deleted from the calendar in the source: seen, never exported


@dataclass(frozen=True, slots=True)
class ClinicalNote:
    id: str
    date: datetime
    locked: bool  # only locked (signed) notes are exported, in their locked version
    appointment_id: str = ""
    provider: str = ""
    title: str = ""
    pdf: Blob | None = None


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    date: date | None
    description: str = ""
    tags: tuple[str, ...] = ()
    file: Blob | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class LabResult:
    id: str
    source: LabSource
    test_name: str
    date_performed: date | None = None
    vendor: str = ""  # "Quest Diagnostics", "LabCorp", "HealthGorilla", ...
    order_id: str = ""
    loinc_code: str = ""
    value: str = ""
    units: str = ""
    normal_range: str = ""
    abnormal_flag: str = ""  # "", "H", "L", "A", ...
    status: str = ""  # P preliminary, F final, C corrected, X cancelled
    ordering_provider: str = ""
    comments: str = ""
    report: Blob | None = None  # the scanned or vendor PDF, when there is one

    @property
    def is_integration(self) -> bool:
        return self.source.category is Category.INTEGRATION_LAB_RESULTS


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    file: Blob
    name: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """A message-center item: Onpatient portal messages, incoming labs, Direct messages, ..."""

    id: str
    category: str  # the folder under "Message Center/", e.g. "Onpatient Messages"
    received_at: datetime
    subject: str = ""
    body: str = ""
    sender: str = ""
    recipient: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class FaxOrReferral:
    id: str
    kind: FaxOrReferralKind
    received_at: datetime
    patient_id: str | None  # None: not tied to a patient, so never exported
    title: str = ""
    counterpart: str = ""  # who sent or received it
    file: Blob | None = None


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Something the source saw but could not read: counted as failed, never dropped."""

    category: Category
    record_id: str  # "" when a whole list could not be read
    reason: str  # no PHI: shown in the reconciliation and logs


@dataclass(frozen=True, slots=True)
class RecordExclusion:
    """Something the source holds that the deliverable leaves out by design: counted excluded."""

    category: Category
    record_id: str
    reason: str  # no PHI: shown in the reconciliation


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    file: Blob
    taken_on: date | None = None


@dataclass(slots=True)
class PatientRecord:
    """Everything the deliverable holds about one patient. Built, used, then dropped."""

    demographics: Demographics
    insurances: list[Insurance] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    allergies: list[Allergy] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: rows of the Medications sheet (the workbook's sheets are fixed, DESIGN.md) and the C-CDA's
    #: Immunizations section
    immunizations: list[Immunization] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    clinical_notes: list[ClinicalNote] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    lab_results: list[LabResult] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    faxes_and_referrals: list[FaxOrReferral] = field(default_factory=list)
    photo: PhotoRecord | None = None
    ccda: Blob | None = None  # the source's own C-CDA, when it can produce one
    failures: list[RecordFailure] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.demographics.id

    def category_counts(self) -> Counter[Category]:
        """The records this patient holds per category, those the source could not read
        included: over all patients, what ``counts_in_source`` must add up to (less the
        faxes and referrals tied to no patient)."""
        integration = sum(result.is_integration for result in self.lab_results)
        counts = Counter(
            {
                Category.PATIENTS: 1,
                Category.INSURANCE: len(self.insurances),
                Category.INSURANCE_CARD_IMAGES: sum(
                    (i.card_front is not None) + (i.card_back is not None) for i in self.insurances
                ),
                Category.PATIENT_PHOTOS: int(self.photo is not None),
                Category.PAYMENTS: len(self.payments),
                Category.MEDICATIONS: len(self.medications),
                Category.ALLERGIES: len(self.allergies),
                Category.PROBLEMS: len(self.problems),
                Category.IMMUNIZATIONS: len(self.immunizations),
                Category.APPOINTMENTS: len(self.appointments),
                Category.CLINICAL_NOTES: len(self.clinical_notes),
                Category.DOCUMENTS: len(self.documents),
                Category.LAB_RESULTS: len(self.lab_results) - integration,
                Category.INTEGRATION_LAB_RESULTS: integration,
                Category.MESSAGES: len(self.messages),
                Category.MESSAGE_ATTACHMENTS: sum(len(m.attachments) for m in self.messages),
                Category.FAXES_AND_REFERRALS: len(self.faxes_and_referrals),
            }
        )
        counts.update(failure.category for failure in self.failures)
        return counts
