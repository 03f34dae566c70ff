"""The demo practice: a deterministic synthetic practice, for trials, tests and benchmarks.

``DemoSource(patients, seed)`` holds no patient data. Each patient is derived on request from
(seed, index) alone, so any patient can be read in any order, on any worker, any number of
times, and comes out identical; memory does not grow with the practice. Two random streams
per patient keep that honest: the *plan* stream draws how many records of each kind the
patient has (all ``counts_in_source`` needs), the *content* stream draws what is in them.

Hard cases sit at fixed places so tests and the benchmark meet them in every practice: see
``HardCase`` and ``HARD_CASE_PATIENTS`` (all of them among the first eleven patients).
"""

from __future__ import annotations

import enum
import random
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar

from . import codes
from .base import ConnectionReport, PracticeSource
from .demo_files import (
    CardImageFile,
    CorruptJpegFile,
    LargePdfFile,
    MissingFile,
    PdfFile,
    PhotoFile,
    ScanImageFile,
    TextFile,
)
from .lab_ranges import reference_range
from .records import (
    Address,
    Allergy,
    Appointment,
    Attachment,
    Blob,
    Category,
    ClinicalNote,
    Demographics,
    Document,
    FaxOrReferral,
    FaxOrReferralKind,
    Immunization,
    Insurance,
    InsurancePriority,
    LabResult,
    LabSource,
    Medication,
    Message,
    PatientRecord,
    PatientStatus,
    Payment,
    PhotoRecord,
    Problem,
    RecordFailure,
    RecordUnavailable,
    Vitals,
)

_T = TypeVar("_T")

MIN_PATIENTS = 10
MAX_PATIENTS = 100_000
FIRST_PATIENT_ID = 100001
DEFAULT_LARGE_DOCUMENT_BYTES = 64 * 1024 * 1024
#: the day the practice's records end; nothing depends on today's date
AS_OF = date(2025, 6, 30)
FIRST_VISIT_FROM = date(2015, 1, 5)
_LAST_NEW_PATIENT = AS_OF - timedelta(days=400)
_OLDEST = date(1930, 1, 1)
MESSAGE_CATEGORY = "Onpatient Messages"


class HardCase(enum.StrEnum):
    """Deliberately awkward data, each at fixed patients (``HARD_CASE_PATIENTS``)."""

    SLASHES_IN_NAME = "slashes_in_name"  # "/" and "\" in the names
    DOTS_IN_NAME = "dots_in_name"  # last name "..", first name "J.R."
    QUOTES_IN_NAME = "quotes_in_name"  # ' and " in the names
    RESERVED_NAME = "reserved_name"  # CON, NUL, COM1: Windows device names
    LONG_NAME = "long_name"  # a last name of 300+ characters
    CHINESE_NAME = "chinese_name"
    ARABIC_NAME = "arabic_name"
    CYRILLIC_NAME = "cyrillic_name"
    DECOMPOSED_ACCENTS = "decomposed_accents"  # names in NFD: base letters + combining marks
    EMPTY_FIRST_NAME = "empty_first_name"
    MISSING_DATE_OF_BIRTH = "missing_date_of_birth"  # date_of_birth None, text ""
    IMPOSSIBLE_DATE_OF_BIRTH = "impossible_date_of_birth"  # None, text "1985-02-30"
    SAME_NAME_AND_BIRTH_DATE = "same_name_and_birth_date"  # two patients, told apart by id
    CONTROL_CHARACTERS = "control_characters"  # XML-illegal \x00-\x1f in every free-text field
    FORMULA_TEXT = "formula_text"  # free text starting with =, +, - or @
    LARGE_DOCUMENT = "large_document"  # one document of ``large_document_bytes``
    CORRUPT_IMAGE = "corrupt_image"  # the patient photo is a .jpg that is no JPEG
    MISSING_FILE = "missing_file"  # a document whose file cannot be read
    UNREADABLE_RECORD = "unreadable_record"  # a lab result reported in ``failures``
    UNLOCKED_NOTE = "unlocked_note"  # at least one unsigned clinical note
    INACTIVE = "inactive"
    DECEASED = "deceased"  # with a date of death


#: patient indexes (0 = the first patient) of each hard case
HARD_CASE_PATIENTS: Mapping[HardCase, tuple[int, ...]] = {
    HardCase.SLASHES_IN_NAME: (0,),
    HardCase.CONTROL_CHARACTERS: (0,),
    HardCase.LARGE_DOCUMENT: (0,),
    HardCase.DOTS_IN_NAME: (1,),
    HardCase.FORMULA_TEXT: (1,),
    HardCase.CORRUPT_IMAGE: (1,),
    HardCase.QUOTES_IN_NAME: (2,),
    HardCase.DECEASED: (2,),
    HardCase.UNLOCKED_NOTE: (2,),
    HardCase.RESERVED_NAME: (3, 9),
    HardCase.INACTIVE: (3,),
    HardCase.LONG_NAME: (4,),
    HardCase.MISSING_FILE: (4,),
    HardCase.UNREADABLE_RECORD: (4,),
    HardCase.CHINESE_NAME: (5,),
    HardCase.MISSING_DATE_OF_BIRTH: (5,),
    HardCase.ARABIC_NAME: (6,),
    HardCase.IMPOSSIBLE_DATE_OF_BIRTH: (6,),
    HardCase.CYRILLIC_NAME: (7, 8),
    HardCase.SAME_NAME_AND_BIRTH_DATE: (7, 8),
    HardCase.EMPTY_FIRST_NAME: (9,),
    HardCase.DECOMPOSED_ACCENTS: (10,),
}

_LONG_LAST_NAME = "-".join(
    (
        "Wolfeschlegelsteinhausenbergerdorff",
        "Featherstonehaugh",
        "Cholmondeley",
        "Vandenberghe-Oosterhout",
        "Papadimitriou",
        "Mountbatten-Windsor",
        "Abernathy-Castellanos",
        "Ramaswamynathan",
        "Oyelaran-Adebayo",
        "Kowalczyk-Szczepanski",
        "Fitzgerald-Mackintosh",
        "Nakamura-Hollingsworth",
        "Bergstrom-Lindqvist",
        "Santangelo-Buonarroti",
        "Worthington-Smythe",
    )
)

#: (last name, first name) of the named hard-case patients
_HARD_CASE_NAMES: Mapping[int, tuple[str, str]] = {
    0: ("Smith/Jones", "Mary\\Ann"),
    1: ("..", "J.R."),
    2: ("O'Brien", 'Kathleen "Kate"'),
    3: ("CON", "NUL"),
    4: (_LONG_LAST_NAME, "Alexandrina"),
    5: ("王", "秀英"),
    6: ("الهاشمي", "فاطمة"),
    7: ("Иванова", "Ольга"),
    8: ("Иванова", "Ольга"),
    9: ("COM1", ""),
    10: (unicodedata.normalize("NFD", "Núñez-Gödel"), unicodedata.normalize("NFD", "José")),
}
_SHARED_BIRTH_DATE = date(1962, 7, 14)
_IMPOSSIBLE_BIRTH_DATE_TEXT = "1985-02-30"

#: every XML-illegal control character, between ordinary words
CONTROL_CHARACTER_TEXT = (
    "see attached\x00\x01\x02\x03\x04\x05\x06\x07\x08 then\x0b\x0c"
    "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f done"
)
FORMULA_TEXTS = (
    '=HYPERLINK("http://example.com/","open chart")',
    "+1 (555) 010-0199 call back",
    "-5 mg per week taper",
    "@SUM(A1:A9)",
)


# --- reference tables -----------------------------------------------------------------------

_FEMALE_NAMES = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan", "Maria", "Aisha", "Mei",
    "Priya", "Fatima", "Sofia", "Olivia", "Emma", "Zoë", "Hannah", "Grace", "Chloe", "Ana",
    "Yuki", "Ngozi", "Ingrid", "Renée", "Lucía",
)  # fmt: skip
_MALE_NAMES = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Carlos",
    "Wei", "Arjun", "Omar", "Liam", "Noah", "Ethan", "Mateo", "Kwame", "Hiroshi", "Lars",
    "François", "Andrés", "Samuel", "Daniel", "Tomasz",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Nguyen", "Kim", "Patel", "Chen", "Okafor", "Cohen",
    "O'Neil", "Müller", "Andersson", "Kowalski", "Rossi", "Tanaka", "Singh", "Haddad",
    "Jean-Baptiste", "McDonald", "Silva", "Peña",
)  # fmt: skip
_CITIES = (
    ("Springfield", "IL", "62701", "217"),
    ("Austin", "TX", "78701", "512"),
    ("Portland", "OR", "97201", "503"),
    ("Columbus", "OH", "43215", "614"),
    ("Raleigh", "NC", "27601", "919"),
    ("Denver", "CO", "80202", "303"),
    ("Albany", "NY", "12207", "518"),
    ("Madison", "WI", "53703", "608"),
)
_STREETS = ("Oak St", "Maple Ave", "Main St", "Cedar Ln", "Park Blvd", "Elm Dr", "Lakeview Rd")
_RACES = (
    "White", "Black or African American", "Asian", "American Indian or Alaska Native",
    "Native Hawaiian or Other Pacific Islander", "Other", "",
)  # fmt: skip
_LANGUAGES = ("eng", "eng", "eng", "eng", "spa", "spa", "zho", "vie", "fra", "ara", "rus")
_PROVIDERS = (
    "Alicia Moreno, MD",
    "Benjamin Okoye, MD",
    "Catherine Liu, DO",
    "David Hartmann, NP",
)
_OFFICES = ("Main Street Clinic", "Riverside Office")
_VISIT_REASONS = (
    "Annual physical",
    "Follow-up: blood pressure",
    "Follow-up: diabetes",
    "Medication refill",
    "Cough and congestion",
    "Sore throat",
    "Back pain",
    "Headache",
    "Lab review",
    "Well visit",
)
_PLANS = (
    "Continue current medications. Recheck in 3 months.",
    "Labs ordered. Will call with results.",
    "Lifestyle counselling given: diet, exercise, sleep.",
    "Supportive care, fluids and rest. Return if symptoms worsen.",
    "Referral placed. Follow up after specialist visit.",
)
_IMMUNIZATION_RECORD = "Immunization record"
_DOCUMENT_KINDS = (
    ("Outside records from prior physician", ("Outside Records",)),
    ("Chest X-ray report", ("Radiology", "Imaging")),
    ("Hospital discharge summary", ("Discharge Summary",)),
    ("EKG tracing", ("Cardiology", "EKG")),
    ("Specialist consultation letter", ("Correspondence",)),
    ("Insurance correspondence", ("Insurance",)),
)
_IMMUNIZATION_TAGS = ("Immunizations",)
#: how often an uploaded document is an immunization record
_IMMUNIZATION_RECORD_SHARE = 1 / (len(_DOCUMENT_KINDS) + 1)
_INSURERS = (
    ("Aetna", "60054", "PPO"),
    ("UnitedHealthcare", "87726", "HMO"),
    ("Cigna", "62308", "EPO"),
    ("Humana", "61101", "Medicare Advantage"),
    ("Blue Cross Blue Shield", "BCBS1", "PPO"),
    ("Medicare Part B", "MCRB1", "Medicare"),
    ("State Medicaid", "MCD01", "Medicaid"),
)
_RELATIONSHIPS = ("Self", "Self", "Self", "Spouse", "Child")
_FAX_COUNTERPARTS = (
    "Riverside Cardiology",
    "County Hospital Records",
    "Lakeside Orthopedics",
    "Quest Diagnostics",
    "Sunrise Physical Therapy",
)
_MESSAGE_SUBJECTS = (
    ("Question about my medication", "Is it OK to take this with food? It upsets my stomach."),
    ("Refill request", "I am almost out of my prescription, could you send a refill?"),
    ("Lab results", "I saw my results on the portal. Should I be worried about anything?"),
    ("Appointment", "Can I move my next visit to a morning slot?"),
    ("Blood pressure log", "Attached are my home readings for the last two weeks."),
)
_LAB_VENDORS = {
    LabSource.MANUAL: "",
    LabSource.QUEST: "Quest Diagnostics",
    LabSource.LABCORP: "LabCorp",
    LabSource.INTEGRATION: "HealthGorilla",
}
_PAYMENT_TYPES = ("Copay", "Coinsurance", "Deductible", "Self-pay")
_ID_PREFIXES = {
    "appointment": 21,
    "note": 22,
    "document": 23,
    "lab": 24,
    "message": 25,
    "attachment": 26,
    "fax": 27,
    "insurance": 28,
    "payment": 29,
    "medication": 31,
    "allergy": 32,
    "problem": 33,
    "immunization": 34,
    "unattached": 79,
}


def _record_id(kind: str, index: int, number: int) -> str:
    """Stable numeric ids, unique per kind across the practice: prefix, patient, sequence."""
    return f"{_ID_PREFIXES[kind]}{index + 1:06d}{number:03d}"


# --- the plan: how many of everything, from its own random stream ---------------------------


class NoteState(enum.Enum):
    NONE = "none"
    LOCKED = "locked"
    UNLOCKED = "unlocked"


@dataclass(frozen=True, slots=True)
class PatientPlan:
    """How many records of each kind one patient has. Cheap: drawn without building any."""

    notes: tuple[NoteState, ...]  # one per appointment
    current_insurances: int  # 0 to 3: primary, secondary, tertiary
    past_insurances: int
    has_images: bool  # a photo, and card images for each current insurance
    payments: int
    medications: int
    allergies: int
    problems: int
    documents: int
    lab_sources: tuple[LabSource, ...]  # manual, Quest, LabCorp and integration results
    message_attachments: tuple[int, ...]  # attachments per message
    faxes: int
    #: per document, the vaccines it lists as an immunization record (0: another kind); each
    #: is also one of the patient's vaccine records
    vaccinations: tuple[int, ...] = ()

    def counts(self) -> Counter[Category]:
        """Records of each category this patient holds, excluded ones included."""
        integration = sum(
            source.category is Category.INTEGRATION_LAB_RESULTS for source in self.lab_sources
        )
        return Counter(
            {
                Category.PATIENTS: 1,
                Category.INSURANCE: self.current_insurances + self.past_insurances,
                Category.INSURANCE_CARD_IMAGES: 2 * self.current_insurances * self.has_images,
                Category.PATIENT_PHOTOS: int(self.has_images),
                Category.PAYMENTS: self.payments,
                Category.MEDICATIONS: self.medications,
                Category.ALLERGIES: self.allergies,
                Category.PROBLEMS: self.problems,
                Category.IMMUNIZATIONS: sum(self.vaccinations),
                Category.APPOINTMENTS: len(self.notes),
                Category.CLINICAL_NOTES: sum(state is not NoteState.NONE for state in self.notes),
                Category.DOCUMENTS: self.documents,
                Category.LAB_RESULTS: len(self.lab_sources) - integration,
                Category.INTEGRATION_LAB_RESULTS: integration,
                Category.MESSAGES: len(self.message_attachments),
                Category.MESSAGE_ATTACHMENTS: sum(self.message_attachments),
                Category.FAXES_AND_REFERRALS: self.faxes,
            }
        )


def _hard_cases_of(index: int) -> frozenset[HardCase]:
    return frozenset(case for case, indexes in HARD_CASE_PATIENTS.items() if index in indexes)


def plan_patient(seed: int, index: int) -> PatientPlan:
    """The record counts of patient ``index``: the same for the same (seed, index), always."""
    rng = random.Random(f"{seed}:{index}:plan")
    cases = _hard_cases_of(index)
    # Patients carrying free-text hard cases get at least one of every free-text record.
    at_least = 1 if cases & {HardCase.CONTROL_CHARACTERS, HardCase.FORMULA_TEXT} else 0
    notes = [
        NoteState.LOCKED if draw < 0.75 else NoteState.UNLOCKED if draw < 0.81 else NoteState.NONE
        for draw in (rng.random() for _ in range(_between(rng, 2, 12)))
    ]
    if HardCase.UNLOCKED_NOTE in cases:
        notes[-1] = NoteState.UNLOCKED
    current = 0
    if rng.random() < 0.9:
        current = 1 + (rng.random() < 0.25)
        current += current == 2 and rng.random() < 0.2
    has_images = rng.random() < 1 / 3 or HardCase.CORRUPT_IMAGE in cases
    documents = _between(rng, 0, 4)
    if HardCase.MISSING_FILE in cases:
        documents = max(documents, 1)
    documents = max(documents, at_least) + (HardCase.LARGE_DOCUMENT in cases)
    lab_sources = [
        rng.choices((LabSource.MANUAL, LabSource.QUEST, LabSource.LABCORP), (3, 4, 4))[0]
        for _ in range(max(_between(rng, 0, 6), at_least, HardCase.UNREADABLE_RECORD in cases))
    ]
    lab_sources += [LabSource.INTEGRATION] * rng.choices((0, 1, 2), (6, 3, 1))[0]
    messages = [
        rng.choices((0, 1, 2), (65, 30, 5))[0] for _ in range(max(_between(rng, 0, 4), at_least))
    ]
    return PatientPlan(
        notes=tuple(notes),
        current_insurances=current,
        past_insurances=_between(rng, 0, 2),
        has_images=has_images,
        payments=max(_between(rng, 0, 6), at_least),
        medications=max(_between(rng, 0, 6), at_least),
        allergies=max(_between(rng, 0, 2), at_least),
        problems=max(_between(rng, 0, 5), at_least),
        documents=documents,
        lab_sources=tuple(lab_sources),
        message_attachments=tuple(messages),
        faxes=rng.choices((0, 1, 2), (55, 35, 10))[0],
        vaccinations=_vaccinations_per_document(seed, index, documents),
    )


def _vaccinations_per_document(seed: int, index: int, documents: int) -> tuple[int, ...]:
    """Its own stream, so the rest of the plan is the same whatever the records list."""
    rng = random.Random(f"{seed}:{index}:vaccinations")
    return tuple(
        _between(rng, 1, 3) if rng.random() < _IMMUNIZATION_RECORD_SHARE else 0
        for _ in range(documents)
    )


# --- the source -----------------------------------------------------------------------------


class DemoSource(PracticeSource):
    """A synthetic practice of ``patients`` patients, the same for the same ``seed``.

    ``large_document_bytes`` sizes the one very large document (``HardCase.LARGE_DOCUMENT``);
    tests and benchmarks shrink it.
    """

    kind = "demo"

    def __init__(
        self,
        patients: int,
        seed: int,
        practice_name: str = "Demo Family Practice",
        large_document_bytes: int = DEFAULT_LARGE_DOCUMENT_BYTES,
    ) -> None:
        if not MIN_PATIENTS <= patients <= MAX_PATIENTS:
            raise ValueError(f"a demo practice has {MIN_PATIENTS} to {MAX_PATIENTS} patients")
        if large_document_bytes < 4096:
            raise ValueError("the large document needs at least 4096 bytes")
        self.patients = patients
        self.seed = seed
        self.practice_name = practice_name
        self.large_document_bytes = large_document_bytes

    @property
    def unattached_count(self) -> int:
        """Faxes and referrals tied to no patient (seen, counted, never exported)."""
        return max(3, self.patients // 40)

    def hard_case_patient_ids(self, case: HardCase) -> tuple[str, ...]:
        """The ids of the patients that carry ``case`` in this practice (may be fewer than
        ``HARD_CASE_PATIENTS`` lists, in a practice too small to hold them all)."""
        return tuple(
            _patient_id(index) for index in HARD_CASE_PATIENTS[case] if index < self.patients
        )

    def patient_ids(self) -> Iterator[str]:
        return (_patient_id(index) for index in range(self.patients))

    def read_patient(self, patient_id: str) -> PatientRecord:
        index = self._index_of(patient_id)
        return _PatientBuilder(self, index, plan_patient(self.seed, index)).build()

    def counts_in_source(self) -> Mapping[Category, int]:
        totals: Counter[Category] = Counter(dict.fromkeys(Category, 0))
        for index in range(self.patients):
            totals.update(plan_patient(self.seed, index).counts())
        totals[Category.FAXES_AND_REFERRALS] += self.unattached_count
        return dict(totals)

    def unattached_records(self) -> Iterator[FaxOrReferral]:
        for number in range(self.unattached_count):
            rng = random.Random(f"{self.seed}:unattached:{number}")
            kind = _pick(rng, tuple(FaxOrReferralKind))
            received = _moment(rng, FIRST_VISIT_FROM, AS_OF)
            counterpart = _pick(rng, _FAX_COUNTERPARTS)
            title = "Misdirected fax: no matching patient" if kind.is_fax else "Referral request"
            yield FaxOrReferral(
                id=f"{_ID_PREFIXES['unattached']}{number:09d}",
                kind=kind,
                received_at=received,
                patient_id=None,
                title=title,
                counterpart=counterpart,
                file=PdfFile(
                    title,
                    (f"From: {counterpart}", f"To: {self.practice_name}", "Pages: 1"),
                    received,
                ),
            )

    def test_connection(self) -> ConnectionReport:
        return ConnectionReport(
            ok=True,
            patient_count=self.patients,
            detail=f"Demo practice {self.practice_name!r}: {self.patients} synthetic patients "
            f"(seed {self.seed}).",
        )

    def _index_of(self, patient_id: str) -> int:
        index = int(patient_id) - FIRST_PATIENT_ID if patient_id.isdigit() else -1
        if not 0 <= index < self.patients:
            raise RecordUnavailable(f"patient {patient_id!r} is not in this demo practice")
        return index


def _between(rng: random.Random, low: int, high: int) -> int:
    """Like ``rng.randint`` at a quarter of the cost; thousands are drawn per patient."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, options: Sequence[_T]) -> _T:
    """Like ``rng.choice``, for the same reason."""
    return options[int(rng.random() * len(options))]


def _patient_id(index: int) -> str:
    return str(FIRST_PATIENT_ID + index)


def _moment(rng: random.Random, start: date, end: date) -> datetime:
    """A weekday office-hours moment between two dates, on a quarter hour."""
    day = start + timedelta(days=_between(rng, 0, max(0, (end - start).days)))
    if day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)
    return datetime.combine(day, time(_between(rng, 8, 16), _pick(rng, (0, 15, 30, 45))))


def _chart_id(last_name: str, first_name: str, index: int) -> str:
    """DrChrono style: two letters of each name (X where there are none) and a number."""
    return f"{_ascii_letters(last_name, 2)}{_ascii_letters(first_name, 2)}{index + 1:06d}"


def _ascii_letters(text: str, count: int) -> str:
    letters = [c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalpha()]
    return ("".join(letters[:count]) + "X" * count)[:count].upper()


# --- building one patient -------------------------------------------------------------------


class _PatientBuilder:
    """Turns one patient's plan into records, drawing content from the patient's own stream."""

    def __init__(self, source: DemoSource, index: int, plan: PatientPlan) -> None:
        self.source = source
        self.index = index
        self.plan = plan
        self.cases = _hard_cases_of(index)
        self.rng = random.Random(f"{source.seed}:{index}:content")
        self.key = f"{source.seed}:{index}"
        self.immunizations: list[Immunization] = []  # filled as immunization records are made
        self._free_text_count = 0

    def build(self) -> PatientRecord:
        demographics = self._demographics()
        self.demographics = demographics
        self.end = demographics.date_of_death or AS_OF
        if demographics.status is PatientStatus.INACTIVE:
            self.end = min(self.end, AS_OF - timedelta(days=400 + _between(self.rng, 0, 900)))
        self.start = min(demographics.created_at.date(), self.end - timedelta(days=30))
        appointments = self._appointments()
        record = PatientRecord(
            demographics=demographics,
            insurances=self._insurances(),
            payments=self._payments(appointments),
            medications=self._medications(),
            allergies=self._allergies(),
            problems=self._problems(),
            appointments=appointments,
            clinical_notes=self._clinical_notes(appointments),
            documents=self._documents(),
            messages=self._messages(),
            faxes_and_referrals=self._faxes(),
            photo=self._photo(),
        )
        record.immunizations = self.immunizations
        self._lab_results(record)
        return record

    # -- people

    def _demographics(self) -> Demographics:
        rng, index = self.rng, self.index
        gender = _pick(rng, ("Female", "Male", "Female", "Male", "Other", "UNK"))
        first_names = _FEMALE_NAMES if gender == "Female" else _MALE_NAMES
        last_name, first_name = _HARD_CASE_NAMES.get(
            index, (_pick(rng, _LAST_NAMES), _pick(rng, first_names))
        )
        birth = _OLDEST + timedelta(days=_between(rng, 0, (_LAST_NEW_PATIENT - _OLDEST).days))
        if HardCase.SAME_NAME_AND_BIRTH_DATE in self.cases:
            birth = _SHARED_BIRTH_DATE
        birth_text = birth.isoformat()
        if HardCase.MISSING_DATE_OF_BIRTH in self.cases:
            birth, birth_text = None, ""
        elif HardCase.IMPOSSIBLE_DATE_OF_BIRTH in self.cases:
            birth, birth_text = None, _IMPOSSIBLE_BIRTH_DATE_TEXT
        status = rng.choices(tuple(PatientStatus), (90, 7, 3))[0]
        if HardCase.DECEASED in self.cases:
            status = PatientStatus.DECEASED
        elif HardCase.INACTIVE in self.cases:
            status = PatientStatus.INACTIVE
        created = _moment(rng, max(FIRST_VISIT_FROM, birth or FIRST_VISIT_FROM), _LAST_NEW_PATIENT)
        death = None
        if status is PatientStatus.DECEASED:
            death = created.date() + timedelta(
                days=_between(rng, 200, (AS_OF - created.date()).days)
            )
        city, state, zip_code, area = _pick(rng, _CITIES)
        mailbox = f"{first_name}.{last_name}".lower()
        if not (mailbox.isascii() and mailbox.replace(".", "").isalpha()):
            mailbox = f"patient{_patient_id(index)}"
        return Demographics(
            id=_patient_id(index),
            chart_id=_chart_id(last_name, first_name, index),
            first_name=first_name,
            last_name=last_name,
            middle_name=_pick(rng, ("", "", "A.", "Lee", "Marie", "J.")),
            date_of_birth=birth,
            date_of_birth_text=birth_text,
            status=status,
            gender=gender,
            date_of_death=death,
            email=f"{mailbox}{_between(rng, 1, 99)}@example.com",
            home_phone=f"({area}) 555-01{_between(rng, 0, 99):02d}",
            cell_phone=f"({area}) 555-01{_between(rng, 0, 99):02d}",
            address=Address(
                line1=f"{_between(rng, 10, 9999)} {_pick(rng, _STREETS)}",
                line2=_pick(rng, ("", "", "", f"Apt {_between(rng, 1, 40)}")),
                city=city,
                state=state,
                zip_code=zip_code,
            ),
            # 9xx area numbers are never issued, so these cannot be anyone's SSN.
            social_security_number=(
                f"9{_between(rng, 0, 99):02d}-{_between(rng, 10, 99)}-{_between(rng, 1, 9999):04d}"
            ),
            race=_pick(rng, _RACES),
            ethnicity=_pick(rng, ("Not Hispanic or Latino", "Hispanic or Latino", "")),
            preferred_language=_pick(rng, _LANGUAGES),
            primary_provider=_pick(rng, _PROVIDERS),
            created_at=created,
        )

    @property
    def _display_name(self) -> str:
        return f"{self.demographics.last_name}, {self.demographics.first_name}".strip(", ")

    def _patient_lines(self) -> tuple[str, ...]:
        d = self.demographics
        return (
            f"Patient: {self._display_name}",
            f"Date of birth: {d.date_of_birth_text or 'unknown'}    Chart: {d.chart_id}",
            f"Practice: {self.source.practice_name}",
            "",
        )

    def _free_text(self, text: str) -> str:
        """Free text as entered, or, for the free-text hard cases, the awkward version."""
        if HardCase.CONTROL_CHARACTERS in self.cases:
            return f"{text} {CONTROL_CHARACTER_TEXT}"
        if HardCase.FORMULA_TEXT in self.cases:
            self._free_text_count += 1
            return FORMULA_TEXTS[(self._free_text_count - 1) % len(FORMULA_TEXTS)]
        return text

    def _day(self) -> date:
        return self.start + timedelta(days=_between(self.rng, 0, (self.end - self.start).days))

    # -- visits and notes

    def _appointments(self) -> list[Appointment]:
        rng = self.rng
        moments = sorted(_moment(rng, self.start, self.end) for _ in self.plan.notes)
        appointments = []
        for number, (moment, note) in enumerate(zip(moments, self.plan.notes, strict=True)):
            status = "Complete"
            if note is NoteState.NONE:
                status = _pick(rng, ("Complete", "Cancelled", "No Show"))
            complete = status == "Complete"
            conditions = rng.sample(codes.conditions(), _between(rng, 1, 3)) if complete else []
            appointments.append(
                Appointment(
                    id=_record_id("appointment", self.index, number),
                    scheduled_time=moment,
                    duration_minutes=_pick(rng, (15, 15, 30, 30, 45, 60)),
                    reason=self._free_text(_pick(rng, _VISIT_REASONS)),
                    provider=_pick(rng, _PROVIDERS),
                    office=_pick(rng, _OFFICES),
                    status=status,
                    icd10_codes=tuple(condition.icd10_code for condition in conditions),
                    vitals=self._vitals() if complete else None,
                    notes=self._free_text(_pick(rng, _PLANS)) if complete else "",
                )
            )
        return appointments

    def _vitals(self) -> Vitals:
        rng = self.rng
        height = Decimal(_between(rng, 580, 760)) / 10
        weight = Decimal(_between(rng, 1000, 2800)) / 10
        return Vitals(
            height_in=height,
            weight_lb=weight,
            bmi=(703 * weight / (height * height)).quantize(Decimal("0.1")),
            systolic_mmhg=_between(rng, 100, 165),
            diastolic_mmhg=_between(rng, 60, 100),
            pulse_bpm=_between(rng, 55, 105),
            temperature_f=Decimal(_between(rng, 970, 1004)) / 10,
            respiratory_rate=_between(rng, 12, 20),
            oxygen_saturation=_between(rng, 93, 100),
            pain=_between(rng, 0, 6),
            smoking_status=_pick(rng, codes.smoking_statuses()).display,
        )

    def _clinical_notes(self, appointments: Sequence[Appointment]) -> list[ClinicalNote]:
        notes = []
        for number, (appointment, state) in enumerate(
            zip(appointments, self.plan.notes, strict=True)
        ):
            if state is NoteState.NONE:
                continue
            locked = state is NoteState.LOCKED
            title = "Annual Physical" if "physical" in appointment.reason else "Progress Note"
            pdf = None
            if locked:  # an unsigned note has no locked version to export
                pdf = PdfFile(
                    f"{title} - {appointment.scheduled_time:%Y-%m-%d}",
                    self._note_lines(appointment),
                    appointment.scheduled_time + timedelta(minutes=appointment.duration_minutes),
                )
            notes.append(
                ClinicalNote(
                    id=_record_id("note", self.index, number),
                    date=appointment.scheduled_time,
                    locked=locked,
                    appointment_id=appointment.id,
                    provider=appointment.provider,
                    title=title,
                    pdf=pdf,
                )
            )
        return notes

    def _note_lines(self, appointment: Appointment) -> tuple[str, ...]:
        vitals = appointment.vitals or Vitals()
        assessment = [
            f"  {code}  {codes.display_name(codes.CodeSystem.ICD10CM, code)}"
            for code in appointment.icd10_codes
        ]
        return (
            *self._patient_lines(),
            f"Date of service: {appointment.scheduled_time:%Y-%m-%d %H:%M}"
            f"    Office: {appointment.office}",
            f"Provider: {appointment.provider}",
            "",
            f"Chief complaint: {appointment.reason}",
            "History of present illness: Patient presents for the above. Reports adherence to "
            "current medications and no new concerns apart from those noted below.",
            f"Vitals: BP {vitals.systolic_mmhg}/{vitals.diastolic_mmhg} mmHg, pulse "
            f"{vitals.pulse_bpm}/min, temp {vitals.temperature_f} F, weight {vitals.weight_lb} lb,"
            f" BMI {vitals.bmi}, SpO2 {vitals.oxygen_saturation}%",
            "",
            "Assessment:",
            *assessment,
            "",
            f"Plan: {appointment.notes}",
            "",
            f"Electronically signed by {appointment.provider} on "
            f"{appointment.scheduled_time:%Y-%m-%d}.",
        )

    # -- coverage and money

    def _insurances(self) -> list[Insurance]:
        rng, plan = self.rng, self.plan
        insurances = []
        priorities = tuple(InsurancePriority)
        for number in range(plan.current_insurances + plan.past_insurances):
            current = number < plan.current_insurances
            company, payer_id, plan_type = _pick(rng, _INSURERS)
            priority = priorities[number] if current else _pick(rng, priorities[:2])
            start = self._day()
            end = None
            if not current:
                end = min(start + timedelta(days=_between(rng, 90, 1500)), self.end)
            member_id = f"{company[0]}{_between(rng, 10**8, 10**9 - 1)}"
            group = f"{_between(rng, 100000, 999999)}"
            front = back = None
            if current and plan.has_images:
                key = f"{self.key}:card:{number}"
                front = CardImageFile(
                    f"{key}:front",
                    (
                        company,
                        f"{plan_type} plan",
                        f"Member: {self.demographics.first_name} {self.demographics.last_name}",
                        f"Member ID: {member_id}",
                        f"Group: {group}    Payer ID: {payer_id}",
                    ),
                    back=False,
                )
                back = CardImageFile(
                    f"{key}:back",
                    (
                        f"Member services: 1-800-555-01{_between(rng, 0, 99):02d}",
                        f"Send claims to {company}, PO Box {_between(rng, 1000, 99999)}",
                        "Providers: verify eligibility before service.",
                    ),
                    back=True,
                )
            insurances.append(
                Insurance(
                    id=_record_id("insurance", self.index, number),
                    priority=priority,
                    company=company,
                    is_current=current,
                    payer_id=payer_id,
                    plan_name=f"{company} {plan_type}",
                    plan_type=plan_type,
                    member_id=member_id,
                    group_name=f"{_pick(rng, ('Acme', 'Globex', 'Initech', 'Umbrella'))} Corp",
                    group_number=group,
                    subscriber_name=self._display_name,
                    relationship_to_subscriber=_pick(rng, _RELATIONSHIPS),
                    start_date=start,
                    end_date=end,
                    card_front=front,
                    card_back=back,
                )
            )
        return insurances

    def _payments(self, appointments: Sequence[Appointment]) -> list[Payment]:
        rng = self.rng
        visits = [a for a in appointments if a.status == "Complete"]
        payments = []
        for number in range(self.plan.payments):
            visit = _pick(rng, visits) if visits and rng.random() < 0.8 else None
            received = visit.scheduled_time.date() if visit else self._day()
            method = _pick(rng, ("CASH", "CHCK", "CRDT", "CRDT"))
            payments.append(
                Payment(
                    id=_record_id("payment", self.index, number),
                    received_date=received,
                    amount=Decimal(_between(rng, 500, 25000)) / 100,
                    method=method,
                    transaction_type=_pick(rng, _PAYMENT_TYPES),
                    posted_date=received + timedelta(days=_between(rng, 0, 3)),
                    trace_number=f"{_between(rng, 1000, 9999)}" if method == "CHCK" else "",
                    appointment_id=visit.id if visit else "",
                    notes=self._free_text(_pick(rng, ("", "", "Paid at front desk"))),
                )
            )
        return payments

    # -- the chart

    def _medications(self) -> list[Medication]:
        rng = self.rng
        medications = []
        for number, drug in enumerate(rng.sample(codes.drugs(), self.plan.medications)):
            started = self._day()
            status = _pick(rng, ("active", "active", "inactive", "discontinued"))
            stopped = None
            if status != "active":
                stopped = min(started + timedelta(days=_between(rng, 10, 700)), self.end)
            medications.append(
                Medication(
                    id=_record_id("medication", self.index, number),
                    name=drug.name,
                    rxnorm=drug.rxnorm,
                    dosage_quantity=drug.dose_quantity,
                    dosage_units=drug.dose_units,
                    frequency=drug.frequency,
                    route=drug.route,
                    status=status,
                    date_prescribed=started,
                    date_started=started,
                    date_stopped=stopped,
                    prescriber=_pick(rng, _PROVIDERS),
                    notes=self._free_text(_pick(rng, ("", "", "Take with food"))),
                )
            )
        return medications

    def _allergies(self) -> list[Allergy]:
        rng = self.rng
        allergies = []
        for number, allergen in enumerate(rng.sample(codes.allergens(), self.plan.allergies)):
            reaction = _pick(rng, codes.reactions())
            drug = allergen.system is codes.CodeSystem.RXNORM
            allergies.append(
                Allergy(
                    id=_record_id("allergy", self.index, number),
                    description=allergen.display,
                    reaction=reaction.display,
                    severity=_pick(rng, ("mild", "moderate", "severe")),
                    status=_pick(rng, ("active", "active", "active", "inactive")),
                    snomed_code="" if drug else allergen.code,
                    rxnorm=allergen.code if drug else "",
                    snomed_reaction=reaction.snomed_code,
                    onset_date=self._day(),
                    notes=self._free_text(_pick(rng, ("", "Reported by patient"))),
                )
            )
        return allergies

    def _problems(self) -> list[Problem]:
        rng = self.rng
        problems = []
        for number, condition in enumerate(
            rng.sample(codes.chronic_conditions(), self.plan.problems)
        ):
            onset = self._day()
            status = _pick(rng, ("active", "active", "active", "inactive", "resolved"))
            problems.append(
                Problem(
                    id=_record_id("problem", self.index, number),
                    name=condition.icd10_display,
                    icd10_code=condition.icd10_code,
                    snomed_code=condition.snomed_code,
                    status=status,
                    date_onset=onset,
                    date_diagnosis=onset,
                    date_resolved=onset + timedelta(days=_between(rng, 30, 400))
                    if status == "resolved"
                    else None,
                    notes=self._free_text(_pick(rng, ("", "", "Stable on current regimen"))),
                )
            )
        return problems

    def _vaccinations(self, document_number: int, received: date) -> tuple[str, ...]:
        """The vaccines an immunization record lists, by CVX code, given before it arrived;
        each is also one of the patient's vaccine records (``self.immunizations``).

        Its own stream, so the rest of the patient is the same whatever the record lists.
        """
        rng = random.Random(f"{self.key}:vaccinations:{document_number}")
        born = self.demographics.date_of_birth or date.min
        count = self.plan.vaccinations[document_number]
        given = sorted(
            (
                (max(received - timedelta(days=_between(rng, 0, 3 * 365)), born), vaccine)
                for vaccine in rng.sample(codes.vaccines(), count)
            ),
            key=lambda dated: dated[0],
        )
        for day, vaccine in given:
            self.immunizations.append(
                Immunization(
                    id=_record_id("immunization", self.index, len(self.immunizations)),
                    vaccine=vaccine.display,
                    cvx_code=vaccine.cvx,
                    administered_on=day,
                    status="completed",
                    lot_number=f"{rng.choice('ABCDEFGHJK')}{_between(rng, 10000, 99999)}",
                )
            )
        return tuple(
            f"CVX {vaccine.cvx}: {vaccine.display}, given {day:%m/%d/%Y}" for day, vaccine in given
        )

    def _documents(self) -> list[Document]:
        rng = self.rng
        documents = []
        for number in range(self.plan.documents):
            kind, tags = _pick(rng, _DOCUMENT_KINDS)
            if self.plan.vaccinations[number]:
                kind, tags = _IMMUNIZATION_RECORD, _IMMUNIZATION_TAGS
            day = self._day()
            description = self._free_text(f"{kind}, received {day:%m/%d/%Y}")
            lines = (*self._patient_lines(), f"Document: {description}", f"Tags: {', '.join(tags)}")
            if kind == _IMMUNIZATION_RECORD:
                lines += self._vaccinations(number, day)
            created = datetime.combine(day, time(12))
            file: Blob
            if number == 0 and HardCase.MISSING_FILE in self.cases:
                file = MissingFile("pdf", "application/pdf")
            elif number == self.plan.documents - 1 and HardCase.LARGE_DOCUMENT in self.cases:
                description = self._free_text("Scanned paper chart archive, 1998-2014")
                tags = ("Outside Records", "Archive")
                file = LargePdfFile(
                    description,
                    (*self._patient_lines(), description),
                    created,
                    self.source.large_document_bytes,
                    f"{self.key}:large",
                )
            elif rng.random() < 0.15:
                file = ScanImageFile(f"{self.key}:document:{number}", lines)
            else:
                file = PdfFile(kind, lines, created)
            documents.append(
                Document(
                    id=_record_id("document", self.index, number),
                    date=day,
                    description=description,
                    tags=tags,
                    file=file,
                    archived=rng.random() < 0.05,
                )
            )
        return documents

    def _lab_results(self, record: PatientRecord) -> None:
        """Lab results into ``record``; the unreadable hard case becomes a failure instead."""
        rng = self.rng
        for number, source in enumerate(self.plan.lab_sources):
            result_id = _record_id("lab", self.index, number)
            if number == 0 and HardCase.UNREADABLE_RECORD in self.cases:
                record.failures.append(
                    RecordFailure(
                        source.category, result_id, "lab result message could not be parsed"
                    )
                )
                continue
            test = _pick(rng, codes.lab_tests())
            normal_range = reference_range(test.normal_range, test.units)
            spread = (test.high - test.low) / 2
            value = rng.uniform(float(test.low - spread), float(test.high + spread))
            value_text = f"{max(value, 0):.{test.decimals}f}"
            flag = ""
            if Decimal(value_text) > test.high:
                flag = "H"
            elif Decimal(value_text) < test.low:
                flag = "L"
            performed = self._day()
            vendor = _LAB_VENDORS[source]
            order_id = f"{_between(rng, 10**9, 10**10 - 1)}"
            provider = _pick(rng, _PROVIDERS)
            report = None
            if source is not LabSource.MANUAL or rng.random() < 0.3:
                report = PdfFile(
                    f"{vendor or 'Lab'} report {order_id}",
                    (
                        *self._patient_lines(),
                        f"Ordering provider: {provider}    Collected: {performed:%Y-%m-%d}",
                        "",
                        f"{test.display} (LOINC {test.loinc})",
                        f"Result: {value_text} {test.units}    Reference range: "
                        f"{normal_range}    Flag: {flag or 'normal'}",
                        "Status: Final",
                    ),
                    datetime.combine(performed, time(18)),
                )
            record.lab_results.append(
                LabResult(
                    id=result_id,
                    source=source,
                    test_name=test.display,
                    date_performed=performed,
                    vendor=vendor,
                    order_id=order_id,
                    loinc_code=test.loinc,
                    value=value_text,
                    units=test.units,
                    normal_range=normal_range,
                    abnormal_flag=flag,
                    status=_pick(rng, ("F", "F", "F", "C", "P")),
                    ordering_provider=provider,
                    comments=self._free_text(_pick(rng, ("", "", "Fasting specimen"))),
                    report=report,
                )
            )

    # -- correspondence

    def _messages(self) -> list[Message]:
        rng = self.rng
        messages = []
        attachment_number = 0
        for number, attachment_count in enumerate(self.plan.message_attachments):
            subject, body = _pick(rng, _MESSAGE_SUBJECTS)
            received = _moment(rng, self.start, self.end)
            attachments = []
            for _ in range(attachment_count):
                key = f"{self.key}:attachment:{attachment_number}"
                file: Blob
                shape = rng.random()
                if shape < 0.4:
                    file, name = TextFile(f"{body}\n\n{self._display_name}\n"), "message.txt"
                elif shape < 0.7:
                    file, name = ScanImageFile(key, (subject, body)), "photo.jpg"
                else:
                    file, name = PdfFile(subject, (body,), received), "readings.pdf"
                attachments.append(
                    Attachment(
                        id=_record_id("attachment", self.index, attachment_number),
                        file=file,
                        name=name,
                    )
                )
                attachment_number += 1
            messages.append(
                Message(
                    id=_record_id("message", self.index, number),
                    category=MESSAGE_CATEGORY,
                    received_at=received,
                    subject=self._free_text(subject),
                    body=self._free_text(body),
                    sender=self._display_name,
                    recipient=_pick(rng, _PROVIDERS),
                    attachments=tuple(attachments),
                )
            )
        return messages

    def _faxes(self) -> list[FaxOrReferral]:
        rng = self.rng
        faxes = []
        for number in range(self.plan.faxes):
            kind = _pick(rng, tuple(FaxOrReferralKind))
            received = _moment(rng, self.start, self.end)
            counterpart = _pick(rng, _FAX_COUNTERPARTS)
            title = {
                FaxOrReferralKind.INCOMING_FAX: "Consultation report",
                FaxOrReferralKind.OUTGOING_FAX: "Records request response",
                FaxOrReferralKind.INBOUND_REFERRAL: "Referral for evaluation",
                FaxOrReferralKind.OUTBOUND_REFERRAL: "Referral to specialist",
            }[kind]
            faxes.append(
                FaxOrReferral(
                    id=_record_id("fax", self.index, number),
                    kind=kind,
                    received_at=received,
                    patient_id=self.demographics.id,
                    title=title,
                    counterpart=counterpart,
                    file=PdfFile(
                        title,
                        (*self._patient_lines(), f"Counterpart: {counterpart}", title),
                        received,
                    ),
                )
            )
        return faxes

    def _photo(self) -> PhotoRecord | None:
        if not self.plan.has_images:
            return None
        key = f"{self.key}:photo"
        file: Blob = PhotoFile(key)
        if HardCase.CORRUPT_IMAGE in self.cases:
            file = CorruptJpegFile(key)
        return PhotoRecord(file=file, taken_on=self.demographics.created_at.date())
