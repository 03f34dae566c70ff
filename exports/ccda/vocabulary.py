"""Code systems and the mappings from a source's free-text values to C-CDA codes.

Sources give demographics and statuses as text ("White", "hispanic", "Former smoker", "eng").
Each mapping here answers a ``Code`` when the text means one thing in the target value set,
or a ``NullFlavor`` saying why there is none: the original text always stays in the narrative.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

LOINC = "2.16.840.1.113883.6.1"
SNOMED_CT = "2.16.840.1.113883.6.96"
RXNORM = "2.16.840.1.113883.6.88"
NDC = "2.16.840.1.113883.6.69"
ICD10_CM = "2.16.840.1.113883.6.90"
CVX = "2.16.840.1.113883.12.292"
CDC_RACE_ETHNICITY = "2.16.840.1.113883.6.238"
ADMINISTRATIVE_GENDER = "2.16.840.1.113883.5.1"
ACT_CLASS = "2.16.840.1.113883.5.6"
ACT_CODE = "2.16.840.1.113883.5.4"
CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OBSERVATION_INTERPRETATION = "2.16.840.1.113883.5.83"


class NullFlavor(enum.StrEnum):
    """Why a coded value is absent (HL7 V3 NullFlavor)."""

    UNKNOWN = "UNK"
    ASKED_BUT_UNKNOWN = "ASKU"  # asked, and the patient declined or did not know
    OTHER = "OTH"  # there is a value, but not one of the value set's codes
    NOT_APPLICABLE = "NA"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    system: str
    display: str = ""


_CODE_TOKEN = re.compile(r"[^\s\x00-\x1f\ud800-\udfff\ufffe\uffff]+")


#: CVX's own code for a vaccine given without a known code
UNKNOWN_VACCINE = Code("999", CVX, "unknown vaccine or immune globulin")


def source_code(text: str, system: str, display: str = "") -> Code | None:
    """A code the source recorded, when it is one token (CDA's ``cs`` type allows no
    whitespace); None when it is empty or several codes in one field. The source's text
    stays in the narrative either way."""
    token = text.strip()
    return Code(token, system, display) if _CODE_TOKEN.fullmatch(token) else None


def normalize(text: str) -> str:
    """Lower case, separators as single spaces: the key every text mapping is looked up by."""
    return " ".join(re.sub(r"[_\-/,]+", " ", text).lower().split())


_DECLINED = {"declined", "declined to specify", "asku", "refused", "patient declined"}
_BLANK = {"", "blank", "unk", "unknown", "not specified", "none"}


def _lookup(text: str, table: dict[str, Code]) -> Code | NullFlavor:
    key = normalize(text)
    if key in table:
        return table[key]
    if key in _DECLINED:
        return NullFlavor.ASKED_BUT_UNKNOWN
    if key in _BLANK:
        return NullFlavor.UNKNOWN
    return NullFlavor.OTHER


def _table(system: str, entries: dict[tuple[str, str], tuple[str, ...]]) -> dict[str, Code]:
    """{(code, display): (spellings...)} -> {normalized spelling: Code}; the display and
    the code themselves are always accepted spellings."""
    table: dict[str, Code] = {}
    for (code, display), spellings in entries.items():
        for spelling in (code, display, *spellings):
            table[normalize(spelling)] = Code(code, system, display)
    return table


_GENDERS = _table(
    ADMINISTRATIVE_GENDER,
    {("M", "Male"): ("man",), ("F", "Female"): ("woman",)},
)

_RACES = _table(
    CDC_RACE_ETHNICITY,
    {
        ("1002-5", "American Indian or Alaska Native"): (
            "indian",
            "american indian",
            "alaska native",
        ),
        ("2028-9", "Asian"): (),
        ("2054-5", "Black or African American"): ("black", "african american"),
        ("2076-8", "Native Hawaiian or Other Pacific Islander"): (
            "hawaiian",
            "native hawaiian",
            "pacific islander",
        ),
        ("2106-3", "White"): ("caucasian",),
        ("2131-1", "Other Race"): ("other",),
    },
)

_ETHNICITIES = _table(
    CDC_RACE_ETHNICITY,
    {
        ("2135-2", "Hispanic or Latino"): ("hispanic", "latino", "latina", "latinx"),
        ("2186-5", "Not Hispanic or Latino"): (
            "not hispanic",
            "non hispanic",
            "not latino",
        ),
    },
)

# Smoking Status value set (2.16.840.1.113883.11.20.9.38), with the ONC/DrChrono labels.
_SMOKING_STATUSES = _table(
    SNOMED_CT,
    {
        ("449868002", "Current every day smoker"): ("smokes tobacco daily", "every day"),
        ("428041000124106", "Current some day smoker"): ("occasional tobacco smoker", "some day"),
        ("8517006", "Former smoker"): ("ex smoker", "former"),
        ("266919005", "Never smoker"): ("never smoked tobacco", "never", "non smoker"),
        ("77176002", "Smoker, current status unknown"): ("smoker",),
        ("266927001", "Unknown if ever smoked"): ("tobacco smoking consumption unknown",),
        ("428071000124103", "Heavy tobacco smoker"): ("heavy smoker",),
        ("428061000124105", "Light tobacco smoker"): ("light smoker",),
    },
)

_SEVERITIES = _table(
    SNOMED_CT,
    {
        ("255604002", "Mild"): (),
        ("6736007", "Moderate"): (),
        ("24484000", "Severe"): (),
    },
)

# ISO 639-2 codes and English names of the languages US practices see most, to the BCP 47
# tag C-CDA wants. Two-letter tags (optionally with a region) pass through as they are.
_LANGUAGES: dict[str, str] = {}
for _tag, _spellings in {
    "en": ("eng", "english"),
    "es": ("spa", "spanish", "espanol", "español"),
    "fr": ("fre", "fra", "french"),
    "de": ("ger", "deu", "german"),
    "it": ("ita", "italian"),
    "pt": ("por", "portuguese"),
    "zh": ("chi", "zho", "chinese", "mandarin", "cantonese"),
    "ja": ("jpn", "japanese"),
    "ko": ("kor", "korean"),
    "vi": ("vie", "vietnamese"),
    "tl": ("tgl", "tagalog", "filipino"),
    "ru": ("rus", "russian"),
    "uk": ("ukr", "ukrainian"),
    "pl": ("pol", "polish"),
    "ar": ("ara", "arabic"),
    "he": ("heb", "hebrew"),
    "fa": ("per", "fas", "persian", "farsi"),
    "ur": ("urd", "urdu"),
    "hi": ("hin", "hindi"),
    "bn": ("ben", "bengali"),
    "pa": ("pan", "punjabi"),
    "gu": ("guj", "gujarati"),
    "el": ("gre", "ell", "greek"),
    "hy": ("arm", "hye", "armenian"),
    "ht": ("hat", "haitian", "haitian creole"),
    "so": ("som", "somali"),
    "am": ("amh", "amharic"),
    "th": ("tha", "thai"),
    "km": ("khm", "khmer", "cambodian"),
    "lo": ("lao",),
    "hmn": ("hmong",),
    "nv": ("nav", "navajo"),
    "yi": ("yid", "yiddish"),
    "sgn-US": ("ase", "american sign language", "asl"),
}.items():
    for _spelling in _spellings:
        _LANGUAGES[normalize(_spelling)] = _tag

_LANGUAGE_TAG = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")


def gender_code(text: str) -> Code | NullFlavor:
    """Administrative Gender (HL7 V3): M, F, or why neither applies."""
    return _lookup(text, _GENDERS)


def race_code(text: str) -> Code | NullFlavor:
    """OMB race category (CDC Race & Ethnicity)."""
    return _lookup(text, _RACES)


def ethnicity_code(text: str) -> Code | NullFlavor:
    """OMB ethnicity category (CDC Race & Ethnicity)."""
    return _lookup(text, _ETHNICITIES)


def smoking_status_code(text: str) -> Code | NullFlavor:
    """Smoking Status value set (SNOMED CT)."""
    return _lookup(text, _SMOKING_STATUSES)


def severity_code(text: str) -> Code | NullFlavor:
    """Reaction Severity value set (SNOMED CT)."""
    return _lookup(text, _SEVERITIES)


def language_tag(text: str) -> str | None:
    """The BCP 47 tag for a preferred language, or None when it cannot be told."""
    stripped = text.strip()
    if _LANGUAGE_TAG.match(stripped):
        return stripped.lower() if len(stripped) == 2 else stripped
    return _LANGUAGES.get(normalize(stripped))


# ---------------------------------------------------------------------------------------
# Statuses. C-CDA carries HL7 ActStatus codes; sources carry words.

_CONCERN_STATUS = {
    "active": "active",
    "inactive": "completed",
    "resolved": "completed",
    "completed": "completed",
    "suspended": "suspended",
}


def concern_status(text: str) -> str:
    """statusCode of an allergy or problem concern: still tracked (active) or not (completed).

    A concern whose status the source did not give is still on the list, so it is active.
    """
    return _CONCERN_STATUS.get(normalize(text), "active")


_CLINICAL_STATUSES = {
    "active": Code("55561003", SNOMED_CT, "Active"),
    "inactive": Code("73425007", SNOMED_CT, "Inactive"),
    "resolved": Code("413322009", SNOMED_CT, "Resolved"),
}


def clinical_status(text: str) -> Code | None:
    """The clinical status of a problem or allergy (Problem Status and Allergy Clinical
    Status value sets) when the source says active, inactive or resolved; None otherwise:
    a status the source did not give is not invented."""
    return _CLINICAL_STATUSES.get(normalize(text))


_MEDICATION_STATUS = {
    "active": "active",
    "inactive": "completed",
    "completed": "completed",
    "discontinued": "aborted",
    "stopped": "aborted",
    "cancelled": "cancelled",
    "on hold": "suspended",
    "suspended": "suspended",
}


def medication_status(text: str, *, stopped: bool) -> str:
    """statusCode of a Medication Activity; unknown statuses follow the stop date."""
    return _MEDICATION_STATUS.get(normalize(text), "completed" if stopped else "active")


# HL7 v2 result statuses (F, C, P, X) and DrChrono's lab_order_status words. A result the
# practice has received and signed off (reviewed) is final: importers show "active" as pending.
_RESULT_STATUS = {
    "f": "completed",
    "final": "completed",
    "c": "completed",  # corrected: a final result that replaced an earlier one
    "corrected": "completed",
    "results received": "completed",
    "results reviewed with patient": "completed",
    "reviewed": "completed",
    "signed off": "completed",
    "signed": "completed",
    "complete": "completed",
    "completed": "completed",
    "p": "active",
    "preliminary": "active",
    "i": "active",  # incomplete, pending
    "in progress": "active",
    "order entered": "active",
    "x": "cancelled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "discontinued": "aborted",
}


def result_status(text: str) -> str:
    """statusCode of a Result Observation (Result Status value set).

    A result whose status the source did not give is not claimed final: it is "active".
    """
    return _RESULT_STATUS.get(normalize(text), "active")


def results_status(statuses: set[str]) -> str:
    """statusCode of a Result Organizer from its results' codes: pending while any result
    is, else the one status they share, else (final and cancelled ones) completed."""
    if "active" in statuses:
        return "active"
    return statuses.pop() if len(statuses) == 1 else "completed"


_NOT_GIVEN = {"refused", "declined", "not given", "patient refused", "deferred"}


def immunization_given(text: str) -> bool:
    """Whether a vaccine record says the vaccine was given (a record is, unless it says
    refused, declined or not given)."""
    return normalize(text) not in _NOT_GIVEN


_INTERPRETATIONS = {"H", "L", "HH", "LL", "A", "AA", "N", "<", ">"}


def interpretation_code(flag: str) -> str | None:
    """Observation Interpretation (HL7) code for a lab's abnormal flag, when it is one."""
    flag = flag.strip().upper()
    return flag if flag in _INTERPRETATIONS else None


# ---------------------------------------------------------------------------------------
# Units. Physical quantities in C-CDA SHALL use UCUM; lab systems print their own spellings.


def _unit_key(text: str) -> str:
    return "".join(text.split()).lower()


_UCUM_UNITS = {
    _unit_key(spelling): ucum
    for ucum, spellings in {
        "%": ("%", "percent"),
        "mg/dL": ("mg/dl",),
        "g/dL": ("g/dl",),
        "mg/L": ("mg/l",),
        "g/L": ("g/l",),
        "ug/dL": ("ug/dl", "mcg/dl"),
        "ug/L": ("ug/l", "mcg/l"),
        "ng/mL": ("ng/ml",),
        "ng/dL": ("ng/dl",),
        "pg/mL": ("pg/ml",),
        "mmol/L": ("mmol/l",),
        "umol/L": ("umol/l",),
        "nmol/L": ("nmol/l",),
        "pmol/L": ("pmol/l",),
        "meq/L": ("meq/l",),
        "U/L": ("u/l", "units/l"),
        "[IU]/L": ("iu/l",),
        "m[IU]/mL": ("miu/ml",),
        "u[IU]/mL": ("uiu/ml",),
        "10*3/uL": ("10*3/ul", "x10e3/ul", "k/ul", "thousand/ul", "10^3/ul"),
        "10*6/uL": ("10*6/ul", "x10e6/ul", "m/ul", "million/ul", "10^6/ul"),
        "fL": ("fl",),
        "pg": ("pg",),
        "mm/h": ("mm/hr", "mm/h"),
        "s": ("s", "sec", "seconds"),
        "mL/min/{1.73_m2}": ("ml/min/1.73m2",),
        "mm[Hg]": ("mmhg", "mm hg", "mm[hg]"),
        "kg": ("kg",),
        "g": ("g",),
        "mg": ("mg",),
        "ug": ("ug", "mcg"),
        "mL": ("ml",),
        "L": ("l",),
        "/min": ("/min", "bpm", "beats/min", "breaths/min"),
        "Cel": ("c", "cel", "degc"),
        "[degF]": ("f", "degf"),
        "[in_i]": ("in", "inch", "inches"),
        "[lb_av]": ("lb", "lbs", "pounds"),
        "cm": ("cm",),
        "kg/m2": ("kg/m2",),
        "[iU]": ("iu", "units", "unit"),
    }.items()
    for spelling in spellings
}


def ucum_unit(text: str) -> str | None:
    """The UCUM spelling of a unit, when it is one we can vouch for."""
    return _UCUM_UNITS.get(_unit_key(text))


# Dose forms counted rather than measured, as UCUM annotations: "1 {tablet}" is dimensionless
# (a count) and still says what is counted, where a bare "1" leaves the reader guessing.
_DOSE_FORMS = {
    _unit_key(spelling): unit
    for unit, spellings in {
        "{tablet}": ("tab", "tabs", "tablet", "tablets"),
        "{capsule}": ("cap", "caps", "capsule", "capsules"),
        "{puff}": ("puff", "puffs", "inhalation", "inhalations"),
        "[drp]": ("drop", "drops", "gtt", "gtts"),
        "{patch}": ("patch", "patches"),
        "{spray}": ("spray", "sprays"),
        "{suppository}": ("suppository", "suppositories"),
        "{lozenge}": ("lozenge", "lozenges"),
        "{packet}": ("packet", "packets"),
        "{each}": ("each", "ea"),
    }.items()
    for spelling in spellings
}


def dose_unit(text: str) -> str | None:
    """The UCUM unit of a medication dose: a measured unit (mg, mL, ...) or a counted dose
    form as an annotation ({tablet}); None when the dose's unit is not one we can vouch for."""
    return ucum_unit(text) or _DOSE_FORMS.get(_unit_key(text))


@dataclass(frozen=True, slots=True)
class Frequency:
    """A PIVL_TS: every ``period`` ``unit``; ``institution_specified`` when the times of day
    are the institution's ("twice daily") rather than strict intervals ("every 12 hours")."""

    period: int
    unit: str  # UCUM: h, d, wk, mo
    institution_specified: bool


_TIMES_A_DAY = {"once": 24, "twice": 12, "three times": 8, "four times": 6}
_FREQUENCY_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Frequency]], ...] = (
    (
        re.compile(r"\b(?:every|q) ?(\d+) ?(?:hours?|hrs?|h)\b"),
        lambda m: Frequency(int(m[1]), "h", False),
    ),
    (
        re.compile(r"\b(?:every|q) ?(\d+) ?(?:days?|d)\b"),
        lambda m: Frequency(int(m[1]), "d", False),
    ),
    (
        re.compile(r"\b(?:every|q) ?(\d+) ?(?:weeks?|wks?)\b"),
        lambda m: Frequency(int(m[1]), "wk", False),
    ),
    (
        re.compile(r"\b(once|twice|three times|four times) (?:a |per )?(?:day|daily)\b"),
        lambda m: Frequency(_TIMES_A_DAY[m[1]], "h", True),
    ),
    (re.compile(r"\bbid\b"), lambda m: Frequency(12, "h", True)),
    (re.compile(r"\btid\b"), lambda m: Frequency(8, "h", True)),
    (re.compile(r"\bqid\b"), lambda m: Frequency(6, "h", True)),
    (re.compile(r"\bevery other day\b|\bqod\b"), lambda m: Frequency(2, "d", True)),
    (
        re.compile(r"\b(?:daily|qd|every day|each day|at bedtime|qhs|nightly)\b"),
        lambda m: Frequency(1, "d", True),
    ),
    (re.compile(r"\b(?:weekly|once a week|every week)\b"), lambda m: Frequency(1, "wk", True)),
    (re.compile(r"\b(?:monthly|once a month|every month)\b"), lambda m: Frequency(1, "mo", True)),
)


def dose_frequency(text: str) -> Frequency | None:
    """How often a medication is taken, when its (free-text) frequency says so: "twice
    daily", "BID", "every 6 hours as needed", "once daily at bedtime"; None for "as needed"
    alone and what cannot be read (the narrative keeps the text either way)."""
    key = " ".join(text.lower().replace("-", " ").split())
    for pattern, frequency in _FREQUENCY_PATTERNS:
        if match := pattern.search(key):
            return frequency(match)
    return None


def decimal_value(text: str) -> Decimal | None:
    """A plain finite number ("5", "-0.25", "1e3" is not one), or None."""
    if not re.fullmatch(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*", text):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None
