"""What an export holds and what it never holds: the contract the intake form shows."""

EXPORTABLE_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("demographics", "Patients and demographics (active, inactive and deceased)"),
    ("insurance_history", "Insurance history"),
    ("insurance_cards", "Insurance card images"),
    ("photos", "Patient photos"),
    ("payments", "Patient payments"),
    ("medications", "Medications"),
    ("allergies", "Allergies"),
    ("problems", "Problem list"),
    ("appointments", "Appointments (time, reason, provider, vitals, ICD-10 codes, note)"),
    ("clinical_notes", "Locked clinical notes (all of them, locked version only)"),
    ("documents", "Uploaded documents"),
    ("lab_results", "Lab results (manual, Quest and LabCorp)"),
    ("integration_lab_results", "Integration lab results"),
    ("messages", "Onpatient messages with attachments"),
    ("faxes_referrals", "Faxes and referrals tied to a patient"),
    ("ccda", "One C-CDA (R2.1 CCD) per patient"),
)

EXPORTABLE_CODES = tuple(code for code, _ in EXPORTABLE_CATEGORIES)

NEVER_EXPORTED: tuple[str, ...] = (
    "Account settings",
    "Staff and permissions",
    "Unlocked notes",
    "Meaningful Use / CQM data",
    "CDS rules",
    "Check-in settings and data",
    "Note settings",
    "Copyable previous notes",
    "Signed consent forms",
    "Eligibility data",
    "Billing and balance data",
    "Recurring series",
    "Charge codes",
    "Card data",
    "Custom payments",
    "Patient groups",
    "Offices",
    "Authorizations",
    "Lab favourites",
    "Tasks",
    "Faxes not tied to a patient",
    "Inventory",
)
