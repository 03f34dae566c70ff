"""The deliverable's paths for one patient, exactly as the contract draws them."""

from __future__ import annotations

from datetime import date, datetime

from export_builders import demographics

from exports.packaging.layout import ExportLayout
from exports.sources.records import FaxOrReferralKind, InsurancePriority

ROOT = "Sunrise Pediatrics_Data_Export_2024-05-01"
FOLDER = "1001_SMJO000001_Smith_Jane_1980-04-02"
RECORDS = f"{ROOT}/Clinical Data Export/Patient Records/{FOLDER}"
IMAGES = f"{ROOT}/Patient Images Export/{FOLDER}"


def paths():
    return ExportLayout("Sunrise Pediatrics", date(2024, 5, 1)).for_patient(demographics())


def test_package_files_sit_where_the_contract_puts_them():
    layout = ExportLayout("Sunrise Pediatrics", date(2024, 5, 1))
    assert str(layout.workbook) == f"{ROOT}/Clinical Data Export/Patient_Data_Export.xlsx"
    assert str(layout.manifest) == f"{ROOT}/Clinical Data Export/manifest.csv"
    assert str(layout.reconciliation) == f"{ROOT}/Clinical Data Export/reconciliation.csv"
    assert str(layout.image_index) == f"{ROOT}/Patient Images Export/patient_images_index.csv"


def test_a_patients_files_have_the_golden_paths():
    patient = paths()
    received = datetime(2024, 3, 5, 14, 30)
    assert str(patient.ccda) == f"{ROOT}/Clinical Data Export/CCDA Files/{FOLDER}.xml"
    assert str(patient.message("Onpatient Messages", "77", received)) == (
        f"{RECORDS}/Message Center/Onpatient Messages/77_2024-03-05T14-30-00.txt"
    )
    assert str(patient.attachment("Onpatient Messages", "77", received, "9", "png")) == (
        f"{RECORDS}/Message Center/Onpatient Messages/77_2024-03-05T14-30-00_9.png"
    )
    assert str(patient.fax_or_referral(FaxOrReferralKind.INCOMING_FAX, "5", received, "pdf")) == (
        f"{RECORDS}/Message Center/Faxes/5_2024-03-05T14-30-00.pdf"
    )
    assert str(
        patient.fax_or_referral(FaxOrReferralKind.OUTBOUND_REFERRAL, "6", received, "pdf")
    ) == (f"{RECORDS}/Message Center/Referrals/6_2024-03-05T14-30-00.pdf")
    assert str(patient.lab_report("8", date(2024, 1, 10), "pdf")) == (
        f"{RECORDS}/Message Center/Lab Results/8_2024-01-10.pdf"
    )
    assert str(patient.clinical_note("41")) == f"{RECORDS}/Signed Clinical Notes/41.pdf"
    assert str(patient.document("42", "tiff")) == f"{RECORDS}/Uploaded Documents/42.tiff"
    assert str(patient.photo("jpg")) == f"{IMAGES}/patient_photo.jpg"
    assert str(patient.insurance_card(InsurancePriority.SECONDARY, "back", "jpg")) == (
        f"{IMAGES}/Secondary Insurance/back.jpg"
    )


def test_a_message_category_is_made_safe_as_a_folder():
    patient = paths()
    path = patient.message("Lab/Imaging ..", "1", datetime(2024, 1, 1))
    assert path.parent.name == "Lab-Imaging"
    assert str(patient.message("", "1", datetime(2024, 1, 1)).parent.name) == "Messages"


def test_an_undated_lab_report_says_so():
    assert paths().lab_report("8", None, "pdf").name == "8_undated.pdf"
