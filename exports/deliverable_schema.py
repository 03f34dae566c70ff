"""The deliverable's data dictionary: every table the archive holds, and every column of it.

One statement of the format, read by everything that writes or explains it: the workbook
writer takes each sheet's headers, column order, cell types and widths from here; the CSV
writers (image index, manifest, reconciliation) take their headers from here; the archive's
``datapackage.json`` (Frictionless Table Schemas), its ``Read me first.html`` and the portal's
public data dictionary page are generated from here. So none of them can drift from another.

A column says what it holds (``description``), its type (``Kind``: how it is written and how a
Table Schema types it), the code system of the codes it holds, whether it may be empty, and a
pattern where its text has a fixed form. A table says which columns identify a row and whether
its ``Patient ID`` refers to a row of the Patients sheet.

``FORMAT_VERSION`` names this format: raise it when a table or column changes meaning, is
added, removed or moved; the archive and the public page both show it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: the version of the deliverable's format (this dictionary); shown in every archive
FORMAT_VERSION = "1.0"
#: the Table Schema field name that ties every table to the Patients sheet
PATIENT_ID = "Patient ID"


class Kind(enum.Enum):
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    MONEY = "money"
    INTEGER = "integer"
    PATH = "path"  # text: a file's path from the archive root (the workbook links it)


#: how each kind is typed in a Frictionless Table Schema, and its format there
TABLE_SCHEMA_TYPES: dict[Kind, tuple[str, str]] = {
    Kind.TEXT: ("string", "default"),
    Kind.PATH: ("string", "default"),
    Kind.DATE: ("date", "default"),
    Kind.DATETIME: ("datetime", "any"),
    Kind.NUMBER: ("number", "default"),
    Kind.MONEY: ("number", "default"),
    Kind.INTEGER: ("integer", "default"),
}
#: what a reader of each kind should expect, in words (the readme and the public page)
KIND_FORMATS: dict[Kind, str] = {
    Kind.TEXT: "text",
    Kind.PATH: "text: a path from the archive's root folder, with /",
    Kind.DATE: "date, YYYY-MM-DD (in the workbook: an Excel date)",
    Kind.DATETIME: (
        "date and time, YYYY-MM-DD hh:mm, the wall time the EHR recorded, no time zone "
        "(in the workbook: an Excel date and time)"
    ),
    Kind.NUMBER: "decimal number, . as the decimal mark",
    Kind.MONEY: "amount in US dollars, decimal number with 2 decimals",
    Kind.INTEGER: "whole number",
}


class CodeSystem(enum.StrEnum):
    RXNORM = "RxNorm"
    NDC = "NDC (National Drug Code)"
    SNOMED_CT = "SNOMED CT"
    ICD_10_CM = "ICD-10-CM"
    LOINC = "LOINC"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT
    width: int = 16  # in the workbook, in Excel's character widths
    description: str = ""
    code_system: CodeSystem | None = None
    required: bool = False  # True: never empty
    pattern: str = ""  # a regular expression every value matches, when the text has a form

    @property
    def format_text(self) -> str:
        return KIND_FORMATS[self.kind]


@dataclass(frozen=True, slots=True)
class Table:
    """A workbook sheet or a CSV file of the deliverable."""

    key: str  # its name in datapackage.json; for a sheet also its spool file's name
    name: str  # a sheet's title (continuations add " (2)", " (3)", ...) or the CSV's file name
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    refers_to_patients: bool = False  # its Patient ID is a row of the Patients sheet

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(column.header for column in self.columns)


#: a workbook sheet is a table of the workbook
Sheet = Table


def _text(header: str, width: int = 16, description: str = "", **details: object) -> Column:
    return Column(header, Kind.TEXT, width, description, **details)  # type: ignore[arg-type]


def _date(header: str, description: str) -> Column:
    return Column(header, Kind.DATE, 12, description)


def _datetime(header: str, description: str) -> Column:
    return Column(header, Kind.DATETIME, 18, description)


def _path(header: str, description: str) -> Column:
    return Column(header, Kind.PATH, 60, description)


def _number(header: str, description: str, width: int = 10) -> Column:
    return Column(header, Kind.NUMBER, width, description)


def _code(header: str, width: int, system: CodeSystem, description: str) -> Column:
    return Column(header, Kind.TEXT, width, description, system)


_PATIENT_ID = _text("Patient ID", 12, "the patient's id in the EHR", required=True)
_CHART_ID = _text("Chart ID", 12, "the patient's chart number in the practice")
_PATIENT = (
    _PATIENT_ID,
    _CHART_ID,
    _text("Last Name", description="the patient's last name"),
    _text("First Name", description="the patient's first name"),
)
_FILE_PATH = _path(
    "File Path", "the file's path from the archive's root folder; empty when it was not exported"
)
_STATUS = _text(
    "Export Status",
    24,
    "exported, or failed: the reason the record (or its file) could not be exported",
    required=True,
    pattern="exported|failed: .+",
)
_YES_NO = "yes|no"

PATIENTS = Table(
    "patients",
    "Patients",
    "Every patient of the practice, active, inactive and deceased: one row each. A patient "
    "the EHR could not give is listed by id with the reason in Export Status.",
    (
        *_PATIENT,
        _text("Middle Name"),
        _text("Nickname"),
        _date("Date of Birth", "empty when the EHR's date is missing or impossible"),
        _text("Date of Birth as Recorded", 14, "the date of birth exactly as the EHR gave it"),
        _text("Status", 10, "active, inactive or deceased", pattern="active|inactive|deceased"),
        _date("Date of Death", "for a deceased patient, when the EHR has it"),
        _text("Gender", 8, "as the EHR records it (Male, Female, Other, UNK, ASKU)"),
        _text("Email", 24),
        _text("Home Phone", 14),
        _text("Cell Phone", 14),
        _text("Address Line 1", 24),
        _text("Address Line 2", 16),
        _text("City"),
        _text("State", 6, "two-letter US state code"),
        _text("ZIP Code", 10),
        _text("SSN", 12, "Social Security number"),
        _text("Race", description="as the EHR records it"),
        _text("Ethnicity", description="as the EHR records it"),
        _text("Preferred Language"),
        _text("Primary Provider", 20, "the patient's primary provider, by name"),
        _datetime("Created", "when the patient's chart was created in the EHR"),
        _STATUS,
    ),
    primary_key=(PATIENT_ID,),
)
INSURANCE_HISTORY = Table(
    "insurance_history",
    "Insurance History",
    "Every insurance policy on file for a patient, current and past.",
    (
        *_PATIENT,
        _text("Insurance ID", 12, "the policy's id in the EHR", required=True),
        _text("Priority", 10, "primary, secondary or tertiary"),
        _text(
            "Current", 8, "yes when the policy is the patient's current coverage", pattern=_YES_NO
        ),
        _text("Company", 24, "the insurance company"),
        _text("Payer ID", 10, "the payer's electronic id"),
        _text("Plan Name", 20),
        _text("Plan Type", 10),
        _text("Member ID"),
        _text("Group Name"),
        _text("Group Number"),
        _text("Subscriber", 20, "the policy holder, by name"),
        _text("Relationship to Subscriber"),
        _date("Start Date", "coverage start"),
        _date("End Date", "coverage end"),
        _path("Card Front Path", "the front of the insurance card (current coverage only)"),
        _path("Card Back Path", "the back of the insurance card (current coverage only)"),
    ),
    refers_to_patients=True,
)
PATIENT_PAYMENTS = Table(
    "patient_payments",
    "Patient Payments",
    "Payments the practice received from patients.",
    (
        *_PATIENT,
        _text("Payment ID", 12, "the payment's id in the EHR", required=True),
        _date("Received Date", "when the payment was received"),
        Column("Amount", Kind.MONEY, 12, "the amount paid"),
        _text("Method", 8, "how it was paid (cash, check, card, ...)"),
        _text("Transaction Type"),
        _date("Posted Date", "when the payment was posted"),
        _text("Trace Number", description="check or card transaction reference"),
        _text("Appointment ID", 14, "the appointment it pays for, when given"),
        _text("Notes", 30),
    ),
    refers_to_patients=True,
)
MEDICATIONS = Table(
    "medications",
    "Medications",
    "The patient's medication list: current and past prescriptions, and the vaccines given"
    " (the deliverable has no immunization sheet): a vaccine's row names it"
    ' "Name (immunization, CVX n)", with its CVX code, and is counted under Immunizations'
    " in the reconciliation.",
    (
        *_PATIENT,
        _text("Medication ID", 12, "the medication's id in the EHR", required=True),
        _text("Name", 30, "the medication as the EHR names it"),
        _code("RxNorm", 10, CodeSystem.RXNORM, "the medication's RxNorm concept (RXCUI)"),
        _code("NDC", 14, CodeSystem.NDC, "the product's National Drug Code"),
        _text("Dosage Quantity", 10),
        _text("Dosage Units", 10),
        _text("Frequency"),
        _text("Route", 10),
        _text("Status", 10, "as the EHR records it (active, inactive, ...)"),
        _date("Date Prescribed", "when it was prescribed"),
        _date("Date Started", "when the patient started taking it"),
        _date("Date Stopped", "when the patient stopped taking it"),
        _text("Prescriber", 20, "the prescribing provider, by name"),
        _text("Indication", 20, "what it is for"),
        _text("Notes", 30),
    ),
    refers_to_patients=True,
)
ALLERGIES = Table(
    "allergies",
    "Allergies",
    "The patient's allergies and intolerances.",
    (
        *_PATIENT,
        _text("Allergy ID", 12, "the allergy's id in the EHR", required=True),
        _text("Description", 24, "the allergen as the EHR describes it"),
        _text("Reaction", 20),
        _text("Severity", 10),
        _text("Status", 10, "as the EHR records it (active, inactive, ...)"),
        _code("SNOMED Code", 12, CodeSystem.SNOMED_CT, "the allergy or allergen"),
        _code("RxNorm", 10, CodeSystem.RXNORM, "the drug allergen, for a drug allergy"),
        _code("SNOMED Reaction Code", 12, CodeSystem.SNOMED_CT, "the reaction"),
        _date("Onset Date", "when it started"),
        _text("Notes", 30),
    ),
    refers_to_patients=True,
)
PROBLEMS = Table(
    "problems",
    "Problems",
    "The patient's problem list: diagnoses, current and resolved.",
    (
        *_PATIENT,
        _text("Problem ID", 12, "the problem's id in the EHR", required=True),
        _text("Name", 30, "the problem as the EHR names it"),
        _code("ICD-10 Code", 10, CodeSystem.ICD_10_CM, "the diagnosis"),
        _code("SNOMED Code", 12, CodeSystem.SNOMED_CT, "the problem"),
        _text("Status", 10, "as the EHR records it (active, resolved, ...)"),
        _date("Onset Date", "when it started"),
        _date("Diagnosis Date", "when it was diagnosed"),
        _date("Resolved Date", "when it was resolved"),
        _text("Notes", 30),
    ),
    refers_to_patients=True,
)
APPOINTMENTS = Table(
    "appointments",
    "Appointments",
    "Every appointment: time, reason, provider, the vitals taken, diagnoses and note.",
    (
        *_PATIENT,
        _text("Appointment ID", 14, "the appointment's id in the EHR", required=True),
        _datetime("Time", "when it was scheduled to start"),
        _number("Duration (min)", "scheduled length in minutes"),
        _text("Reason", 24),
        _text("Provider", 20, "the provider seen, by name"),
        _text("Office", description="the practice's office, by name"),
        _text("Status", 12, "as the EHR records it (arrived, complete, no show, ...)"),
        _code(
            "ICD-10 Codes",
            16,
            CodeSystem.ICD_10_CM,
            "the visit's diagnoses, several separated by '; '",
        ),
        _number("Height (in)", "height in inches"),
        _number("Weight (lb)", "weight in pounds"),
        _number("BMI", "body mass index, kg/m²"),
        _number("BP Systolic (mmHg)", "systolic blood pressure in mmHg"),
        _number("BP Diastolic (mmHg)", "diastolic blood pressure in mmHg"),
        _number("Pulse (bpm)", "heart rate, beats per minute"),
        _number("Temperature (F)", "body temperature in degrees Fahrenheit"),
        _number("Respiratory Rate", "breaths per minute"),
        _number("Oxygen Saturation (%)", "SpO2 in percent"),
        _number("Pain", "pain score, 0 to 10"),
        _text("Smoking Status", description="as the EHR records it"),
        _text("Note", 40, "the appointment's note"),
    ),
    refers_to_patients=True,
)
SIGNED_CLINICAL_NOTES = Table(
    "signed_clinical_notes",
    "Signed Clinical Notes",
    "Every locked (signed) clinical note, as a PDF of its locked version.",
    (
        *_PATIENT,
        _text("Note ID", 12, "the note's id in the EHR", required=True),
        _datetime("Date", "the note's date"),
        _text("Category", 20, "always Signed Clinical Notes"),
        _text("Title", 24),
        _text("Provider", 20, "the signing provider, by name"),
        _text("Appointment ID", 14, "the appointment the note documents, when given"),
        _FILE_PATH,
        _STATUS,
    ),
    refers_to_patients=True,
)
UPLOADED_DOCUMENTS = Table(
    "uploaded_documents",
    "Uploaded Documents",
    "Documents uploaded to the patient's chart, in the format they were uploaded.",
    (
        *_PATIENT,
        _text("Document ID", 12, "the document's id in the EHR", required=True),
        _date("Date", "the document's date"),
        _text("Tags", 20, "the document's tags, several separated by '; '"),
        _text("Description", 30),
        _text("Archived", 8, "yes when the practice archived it", pattern=_YES_NO),
        _FILE_PATH,
        _STATUS,
    ),
    refers_to_patients=True,
)


def _lab_columns() -> tuple[Column, ...]:
    return (
        *_PATIENT,
        _text("Lab Result ID", 12, "the result's id in the EHR", required=True),
        _date("Date Performed", "when the test was performed"),
        _text("Category", 12, "how it reached the practice: manual, quest, labcorp or integration"),
        _text("Vendor", 18, "the laboratory"),
        _text("Order ID", 12, "the lab order's id"),
        _text("Test Name", 24),
        _code("LOINC Code", 10, CodeSystem.LOINC, "the test or observation"),
        _text("Value", 12, "the result as reported (a number or text)"),
        _text("Units", 8),
        _text("Normal Range", 12),
        _text("Abnormal Flag", 8, "as reported (H, L, A, ...)"),
        _text("Result Status", 8, "as reported (final, preliminary, corrected, ...)"),
        _text("Ordering Provider", 20, "by name"),
        _text("Comments", 30),
        _path("Report File Path", "the lab's report file, when there is one"),
        _STATUS,
    )


LAB_RESULTS = Table(
    "lab_results",
    "Lab Results",
    "Lab results entered by hand or received from Quest or LabCorp.",
    _lab_columns(),
    refers_to_patients=True,
)
INTEGRATION_LAB_RESULTS = Table(
    "integration_lab_results",
    "Integration Lab Results",
    "Lab results received through other lab integrations (HealthGorilla and others).",
    _lab_columns(),
    refers_to_patients=True,
)
MESSAGE_CENTER = Table(
    "message_center",
    "Message Center",
    "Onpatient messages (one row each, the message as a text file) and their attachments "
    "(one row each).",
    (
        *_PATIENT,
        _text("Message ID", 12, "the message's id in the EHR", required=True),
        _text("Attachment ID", 12, "empty on the message's own row"),
        _datetime("Received", "when the message was received"),
        _text("Category", 20, "the message's category (its folder in Message Center)"),
        _text("Subject", 30),
        _text("Sender", 20),
        _text("Recipient", 20),
        _text("Attachment Name", 24, "the attachment's original file name"),
        _FILE_PATH,
        _STATUS,
    ),
    refers_to_patients=True,
)
FAXES_AND_REFERRALS = Table(
    "faxes_and_referrals",
    "Faxes and Referrals",
    "Faxes and referrals tied to a patient (those tied to none are not exported).",
    (
        *_PATIENT,
        _text("Record ID", 12, "the fax's or referral's id in the EHR", required=True),
        _datetime("Received", "when it was received or sent"),
        _text("Category", 12, "Faxes or Referrals"),
        _text("Kind", 18, "inbound fax, outbound fax, inbound referral or outbound referral"),
        _text("Title", 24),
        _text("Counterpart", 20, "who sent or received it"),
        _FILE_PATH,
        _STATUS,
    ),
    refers_to_patients=True,
)
CCDA_FILES = Table(
    "ccda_files",
    "CCDA Files",
    "The patient's C-CDA R2.1 Continuity of Care Document (one per patient), and the EHR's own "
    "C-CDA kept as received when it did not pass validation.",
    (
        *_PATIENT,
        _date("Date", "the export's date"),
        _text("Category", 16, "which document: ours (C-CDA R2.1 CCD) or the EHR's"),
        _FILE_PATH,
        _STATUS,
    ),
    refers_to_patients=True,
)

#: the workbook's sheets, in the order the deliverable lists them
SHEETS: tuple[Table, ...] = (
    PATIENTS,
    INSURANCE_HISTORY,
    PATIENT_PAYMENTS,
    MEDICATIONS,
    ALLERGIES,
    PROBLEMS,
    APPOINTMENTS,
    SIGNED_CLINICAL_NOTES,
    UPLOADED_DOCUMENTS,
    LAB_RESULTS,
    INTEGRATION_LAB_RESULTS,
    MESSAGE_CENTER,
    FAXES_AND_REFERRALS,
    CCDA_FILES,
)

IMAGE_INDEX = Table(
    "patient_images_index",
    "patient_images_index.csv",
    "One row per image in Patient Images Export: patient photos and insurance card images.",
    (
        *_PATIENT,
        _text(
            "Date of Birth",
            description="YYYY-MM-DD, or unknown when the EHR has no valid date",
            pattern=r"\d{4}-\d{2}-\d{2}|unknown",
        ),
        _text("Kind", description="photo or insurance card", pattern="photo|insurance card"),
        _text("Insurance Priority", description="primary, secondary or tertiary (cards only)"),
        _text("Side", description="front or back (cards only)"),
        _path("Path", "the image's path from the archive's root folder"),
        _date("Date", "the photo's date, or the card's coverage start"),
    ),
    primary_key=("Path",),
    refers_to_patients=True,
)
MANIFEST = Table(
    "manifest",
    "manifest.csv",
    "Every file of the archive (except this manifest and the files that describe the archive: "
    "datapackage.json, Read me first.html, SHA256SUMS) with its size and SHA-256, by path.",
    (
        _path("Path", "the file's path from the archive's root folder"),
        Column("Bytes", Kind.INTEGER, 12, "the file's size in bytes", required=True),
        _text(
            "SHA-256",
            64,
            "the file's SHA-256 digest, 64 lowercase hexadecimal digits",
            required=True,
            pattern="[0-9a-f]{64}",
        ),
    ),
    primary_key=("Path",),
)
_COUNT_ON_LINES = "; empty on a Note row"
RECONCILIATION = Table(
    "reconciliation",
    "reconciliation.csv",
    "For every category: records in the source, exported, excluded and failed, with the "
    "reasons. A category balances when in source = exported + excluded + failed. Rows after "
    "the categories, starting Note:, say what the EHR could not give.",
    (
        _text(
            "Category",
            24,
            "the kind of record (Patients, Medications, Patient Photos, ..., CCDA Files,"
            " C-CDAs from the EHR)",
            required=True,
        ),
        Column("In Source", Kind.INTEGER, 10, "records the EHR holds" + _COUNT_ON_LINES),
        Column("Exported", Kind.INTEGER, 10, "records exported" + _COUNT_ON_LINES),
        Column("Excluded", Kind.INTEGER, 10, "records left out on purpose" + _COUNT_ON_LINES),
        Column("Failed", Kind.INTEGER, 10, "records that could not be exported" + _COUNT_ON_LINES),
        _text(
            "Balanced",
            12,
            "yes, or NO: records unaccounted for" + _COUNT_ON_LINES,
            pattern="yes|NO: records unaccounted for",
        ),
        _text(
            "Excluded Reasons", 40, "why records were excluded, 'reason: count' separated by '; '"
        ),
        _text("Failed Reasons", 40, "why records failed, 'reason: count' separated by '; '"),
        _text("Failed Record IDs", 40, "the failed records' ids, separated by '; '"),
    ),
)
#: the CSV files, in the order the readme lists them
CSV_TABLES: tuple[Table, ...] = (IMAGE_INDEX, MANIFEST, RECONCILIATION)
#: every table of the deliverable
TABLES: tuple[Table, ...] = (*SHEETS, *CSV_TABLES)
