"""Code systems and the mappings from a source's free-text values to C-CDA codes.

Sources give demographics and statuses as text ("White", "hispanic", "Former smoker", "eng").
Each mapping here answers a ``Code`` when the text means one thing in the target value set,
or a ``NullFlavor`` saying why there is none: the original text always stays in the narrative.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

LOINC = "2.16.840.1.113883.6.1"
SNOMED_CT = "2.16.840.1.113883.6.96"
RXNORM = "2.16.840.1.113883.6.88"
NDC = "2.16.840.1.113883.6.69"
ICD10_CM = "2.16.840.1.113883.6.90"
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


_RESULT_STATUS = {
    "f": "completed",
    "final": "completed",
    "c": "completed",  # corrected: a final result that replaced an earlier one
    "corrected": "completed",
    "p": "active",
    "preliminary": "active",
    "x": "cancelled",
    "cancelled": "cancelled",
}


def result_status(text: str) -> str:
    """statusCode of a Result Observation (Result Status value set).

    A result whose status the source did not give is not claimed final: it is "active".
    """
    return _RESULT_STATUS.get(normalize(text), "active")


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


def decimal_value(text: str) -> Decimal | None:
    """A plain finite number ("5", "-0.25", "1e3" is not one), or None."""
    if not re.fullmatch(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*", text):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None
