"""The deliverable end to end: ``export_practice`` on a demo practice holding every hard case,
checked against DESIGN.md ("The deliverable") the way the customer and the data team see it."""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
from pathlib import Path

import pytest
import pyzipper
from deliverable_helpers import (
    DESCRIBING_FILES,
    PACKAGE_FILES,
    extract_with_seven_zip,
    file_digests,
    read_csv,
    seven_zip,
    workbook_sheets,
)
from lxml import etree

from exports.ccda.validate import validate_ccda
from exports.passwords import WORD_COUNT, word_list
from exports.sources.demo import HardCase
from exports.sources.records import Category, PatientStatus
from tests.tools import needs_7z

ROOT_NAME = re.compile(r"Demo Family Practice_Data_Export_\d{4}-\d{2}-\d{2}")
WORKBOOK_SHEETS = {
    "Patients",
    "Insurance History",
    "Patient Payments",
    "Medications",
    "Allergies",
    "Problems",
    "Appointments",
    "Signed Clinical Notes",
    "Uploaded Documents",
    "Lab Results",
    "Integration Lab Results",
    "Message Center",
    "Faxes and Referrals",
    "CCDA Files",
}
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "123456789"
}
RECORDS = "Clinical Data Export/Patient Records"
CCDA = "Clinical Data Export/CCDA Files"
CDA_NS = {"cda": "urn:hl7-org:v3"}
IMAGES = "Patient Images Export"


def patient_folders(tree: Path) -> dict[str, str]:
    """Patient id -> the patient's folder name under Patient Records."""
    return {folder.name.split("_", 1)[0]: folder.name for folder in (tree / RECORDS).iterdir()}


def demographics(demo_export, case: HardCase):
    return [
        demo_export.source.read_patient(patient_id).demographics
        for patient_id in demo_export.source.hard_case_patient_ids(case)
    ]


# -- The command ---------------------------------------------------------------------------


def test_it_exits_1_naming_the_deliberately_failed_records(demo_export):
    run = demo_export.run

    assert run.returncode == 1, run.stderr
    assert "3 records failed; they are listed above with their reasons" in run.stderr
    # the document whose file cannot be read and the lab result the source could not parse
    assert re.search(r"^Uploaded Documents: 1 failed: \S.+$", run.stdout, re.M)
    assert re.search(r"^Uploaded Documents: failed ids: \d+$", run.stdout, re.M)
    assert re.search(r"^Lab Results: 1 failed: \S.+$", run.stdout, re.M)
    assert re.search(r"^Signed Clinical Notes: \d+ excluded: unlocked note", run.stdout, re.M)
    assert re.search(r"^Faxes and Referrals: 3 excluded: not tied to a patient", run.stdout, re.M)


def test_it_prints_the_archive_and_writes_the_password_owner_only(demo_export):
    (archive,) = demo_export.run.archives()
    mode = stat.S_IMODE(demo_export.password_file.stat().st_mode)

    assert archive.parent == demo_export.work_dir / "out"
    assert ROOT_NAME.fullmatch(archive.stem)
    assert archive.stat().st_size > 0
    assert mode == 0o600
    words = demo_export.password.split("-")
    assert len(words) == WORD_COUNT and set(words) <= set(word_list())
    assert demo_export.password not in demo_export.run.stdout + demo_export.run.stderr


def test_it_never_touches_the_portal_database(demo_export):
    data_dir = demo_export.run.portal_data_dir

    assert data_dir.is_dir()  # the settings made it: a database would be a file in it
    assert not list(data_dir.rglob("*.sqlite3*"))


def test_it_shows_no_progress_bar_when_stdout_is_not_a_terminal(demo_export):
    assert "Extracting" not in demo_export.run.stderr
    assert "Archiving" not in demo_export.run.stderr


# -- The archive ---------------------------------------------------------------------------


@needs_7z
def test_7zip_and_pyzipper_open_it_with_the_password_to_the_exact_tree(demo_export, tmp_path):
    extracted = extract_with_seven_zip(demo_export.archive, demo_export.password, tmp_path)
    kept = demo_export.tree

    assert [p.name for p in extracted.iterdir()] == [kept.name]
    assert file_digests(extracted / kept.name) == file_digests(kept)

    with pyzipper.AESZipFile(demo_export.archive) as outer:
        outer.setpassword(demo_export.password.encode())
        (inner_name,) = outer.namelist()
        inner = zipfile.ZipFile(io.BytesIO(outer.read(inner_name)))
    inner_files = {name for name in inner.namelist() if not name.endswith("/")}
    assert inner_files == {f"{kept.name}/{path}" for path in file_digests(kept)}


@needs_7z
def test_without_the_password_nothing_of_a_patient_shows(demo_export):
    listing = seven_zip("l", str(demo_export.archive))
    wrong = seven_zip("t", "-pnot-the-password", str(demo_export.archive))
    archive_bytes = demo_export.archive.read_bytes()
    folders = patient_folders(demo_export.tree).values()
    names = {
        part
        for patient_id in demo_export.source.patient_ids()
        for record in [demo_export.source.read_patient(patient_id).demographics]
        for part in (record.last_name, record.first_name, record.chart_id)
        if len(part.encode()) >= 6  # shorter byte strings turn up in any random data
    }

    assert listing.returncode == 0
    assert len(re.findall(r"\.contents\.zip$", listing.stdout, re.M)) == 1
    assert wrong.returncode != 0
    for text in [*names, *folders]:
        assert text not in listing.stdout
        assert text.encode() not in archive_bytes
        assert unicodedata.normalize("NFC", text).encode() not in archive_bytes


# -- The tree ------------------------------------------------------------------------------


def test_the_tree_has_the_folders_of_the_spec(demo_export):
    tree = demo_export.tree

    assert ROOT_NAME.fullmatch(tree.name)
    # the spec's two folders, and the files that describe the export to whoever opens it
    assert sorted(p.name for p in tree.iterdir()) == [
        "Clinical Data Export",
        IMAGES,
        "Read me first.html",
        "datapackage.json",
    ]
    assert sorted(p.name for p in (tree / "Clinical Data Export").iterdir()) == [
        "CCDA Files",
        "Patient Records",
        "Patient_Data_Export.xlsx",
        "SHA256SUMS",
        "manifest.csv",
        "reconciliation.csv",
    ]
    for image_folder in (tree / IMAGES).iterdir():
        if image_folder.is_dir():
            assert {p.name.split(".")[0] for p in image_folder.iterdir()} <= {
                "patient_photo",
                "Primary Insurance",
                "Secondary Insurance",
                "Tertiary Insurance",
            }


def test_every_patient_has_a_folder_and_one_ccda_named_id_chart_last_first_dob(demo_export):
    tree = demo_export.tree
    folders = patient_folders(tree)

    assert sorted(folders) == sorted(demo_export.source.patient_ids())
    assert sorted(p.name for p in (tree / CCDA).iterdir()) == sorted(
        f"{folder}.xml" for folder in folders.values()
    )
    for image_folder in (tree / IMAGES).iterdir():
        if image_folder.is_dir():
            assert image_folder.name in folders.values()
    for patient_id, folder in folders.items():
        patient = demo_export.source.read_patient(patient_id).demographics
        parts = folder.split("_")
        assert len(parts) == 5 and all(parts), folder
        assert parts[0] == patient.id
        assert parts[1] == patient.chart_id
        dob = patient.date_of_birth.isoformat() if patient.date_of_birth else "unknown"
        assert parts[4] == dob
        assert len(folder.encode()) <= 255
        assert unicodedata.is_normalized("NFC", folder)
        assert folder[-1] not in ". "
        assert folder.split(".")[0].upper() not in WINDOWS_RESERVED
        assert not {"/", "\\", ":", "*", "?", '"', "<", ">", "|"} & set(folder)


@pytest.mark.parametrize(
    ("case", "kept"),
    [
        (HardCase.SLASHES_IN_NAME, ("Smith", "Jones", "Mary", "Ann")),
        (HardCase.DOTS_IN_NAME, ("J.R",)),
        (HardCase.QUOTES_IN_NAME, ("O'Brien", "Kathleen")),
        (HardCase.CHINESE_NAME, ("王", "秀英")),
        (HardCase.ARABIC_NAME, ("الهاشمي", "فاطمة")),
        (HardCase.CYRILLIC_NAME, ("Иванова", "Ольга")),
        (HardCase.DECOMPOSED_ACCENTS, ("Núñez-Gödel", "José")),  # composed (NFC)
        # cut, free text first, so every path stays under 200 characters (issue 16 point 5)
        (HardCase.LONG_NAME, ("Wolfeschlegel", "Alexandrina")),
    ],
)
def test_hard_case_names_are_kept_as_far_as_every_os_allows(demo_export, case, kept):
    folders = patient_folders(demo_export.tree)

    for patient in demographics(demo_export, case):
        folder = folders[patient.id]
        for text in kept:
            assert text in folder
        assert ".." not in folder.split("_")


def test_every_path_from_the_archive_root_has_fewer_than_200_characters(demo_export):
    root = demo_export.tree
    paths = [path.relative_to(root.parent).as_posix() for path in root.rglob("*")]

    assert len(paths) > 100
    assert max(len(path.encode("utf-16-le")) // 2 for path in paths) < 200


def test_two_patients_with_the_same_name_and_birth_date_get_two_folders(demo_export):
    folders = patient_folders(demo_export.tree)
    twins = demographics(demo_export, HardCase.SAME_NAME_AND_BIRTH_DATE)

    names = {folders[patient.id] for patient in twins}
    assert len(twins) == len(names) == 2
    assert all(name.endswith("_Иванова_Ольга_1962-07-14") for name in names)


def test_missing_and_impossible_birth_dates_and_empty_names_still_name_a_folder(demo_export):
    folders = patient_folders(demo_export.tree)
    cases = (
        HardCase.MISSING_DATE_OF_BIRTH,
        HardCase.IMPOSSIBLE_DATE_OF_BIRTH,
        HardCase.EMPTY_FIRST_NAME,
        HardCase.RESERVED_NAME,
    )

    for case in cases:
        for patient in demographics(demo_export, case):
            assert folders[patient.id].startswith(f"{patient.id}_")
    for patient in demographics(demo_export, HardCase.IMPOSSIBLE_DATE_OF_BIRTH):
        assert folders[patient.id].endswith("_unknown")
        assert patient.date_of_birth_text not in folders[patient.id]


# -- Workbook, image index, manifest -------------------------------------------------------


def test_the_workbook_has_a_sheet_per_category_and_every_patient(demo_export):
    sheets = workbook_sheets(demo_export.tree / "Clinical Data Export/Patient_Data_Export.xlsx")
    patients = {row["Patient ID"]: row for row in sheets["Patients"]}
    inactive = demo_export.source.hard_case_patient_ids(HardCase.INACTIVE)
    deceased = demo_export.source.hard_case_patient_ids(HardCase.DECEASED)

    assert set(sheets) == WORKBOOK_SHEETS
    assert sorted(patients) == sorted(demo_export.source.patient_ids())
    assert {patients[i]["Status"] for i in inactive} == {PatientStatus.INACTIVE.value}
    assert {patients[i]["Status"] for i in deceased} == {PatientStatus.DECEASED.value}
    assert len(sheets["CCDA Files"]) == len(patients)


def test_every_file_in_the_tree_is_found_from_the_workbook_or_the_image_index(demo_export):
    tree = demo_export.tree
    sheets = workbook_sheets(tree / "Clinical Data Export/Patient_Data_Export.xlsx")
    prefix = f"{tree.name}/"
    workbook_paths = {
        value.removeprefix(prefix)
        for rows in sheets.values()
        for row in rows
        for header, value in row.items()
        if header.endswith("Path") and value
    }
    index = read_csv(tree / IMAGES / "patient_images_index.csv")
    index_paths = {row["Path"].removeprefix(prefix) for row in index}
    in_tree = set(file_digests(tree))

    assert all(row["Path"].startswith(prefix) for row in index)
    assert workbook_paths <= in_tree  # every path the workbook gives exists
    assert index_paths <= in_tree
    assert in_tree - workbook_paths - index_paths == PACKAGE_FILES | DESCRIBING_FILES
    images = {p for p in in_tree if p.startswith(f"{IMAGES}/")} - PACKAGE_FILES
    assert images == index_paths
    assert {row["Kind"] for row in index} == {"photo", "insurance card"}


def test_the_manifest_lists_every_other_file_with_its_size_and_sha256(demo_export):
    tree = demo_export.tree
    manifest = read_csv(tree / "Clinical Data Export/manifest.csv")
    digests = file_digests(tree)
    prefix = f"{tree.name}/"

    listed = {row["Path"].removeprefix(prefix): row for row in manifest}
    assert set(listed) == set(digests) - {"Clinical Data Export/manifest.csv"} - DESCRIBING_FILES
    for path, row in listed.items():
        assert row["SHA-256"] == digests[path]
        assert int(row["Bytes"]) == (tree / path).stat().st_size


def test_every_shipped_ccda_passes_the_schema_and_the_schematron_errors_phase(demo_export):
    documents = sorted((demo_export.tree / CCDA).iterdir())

    assert len(documents) == demo_export.source.patients
    for document in documents:
        result = validate_ccda(document, generated=True)
        assert result.is_valid, (document.name.split("_")[0], result.summary())


def test_each_ccda_holds_the_medications_allergies_and_problems_the_workbook_lists(demo_export):
    """The customer's two views of a patient agree: the C-CDA's entries are the workbook's rows."""
    tree = demo_export.tree
    sheets = workbook_sheets(tree / "Clinical Data Export/Patient_Data_Export.xlsx")
    kinds = {"Medications": "medication", "Allergies": "allergy", "Problems": "problem-concern"}
    id_column = {
        "Medications": "Medication ID",
        "Allergies": "Allergy ID",
        "Problems": "Problem ID",
    }
    in_workbook = {
        # vaccine records are Medications rows (no immunization sheet), immunizations in a C-CDA
        (
            row["Patient ID"],
            "immunization" if "(immunization" in str(row.get("Name")) else kind,
            str(row[id_column[sheet]]),
        )
        for sheet, kind in kinds.items()
        for row in sheets[sheet]
    }
    in_ccdas = set()
    for row in sheets["CCDA Files"]:
        document = etree.parse(tree.parent / row["File Path"])
        for extension in document.xpath("//cda:entry//cda:id/@extension", namespaces=CDA_NS):
            kind, _, record_id = extension.partition("/")
            if kind in {*kinds.values(), "immunization"}:
                in_ccdas.add((row["Patient ID"], kind, record_id))

    assert {kind for _, kind, _ in in_workbook} == {*kinds.values(), "immunization"}
    assert in_ccdas == in_workbook


# -- The reconciliation --------------------------------------------------------------------


def test_the_reconciliation_adds_up_per_category_against_the_source_own_counts(demo_export):
    lines = {
        row["Category"]: row
        for row in read_csv(demo_export.tree / "Clinical Data Export/reconciliation.csv")
    }
    counts = demo_export.source.counts_in_source()

    for category in Category:
        line = lines[category.label]
        assert int(line["In Source"]) == counts[category], category
    for label, line in lines.items():
        parts = (int(line["Exported"]), int(line["Excluded"]), int(line["Failed"]))
        assert int(line["In Source"]) == sum(parts), label
        assert line["Balanced"] == "yes", label
    assert int(lines["CCDA Files"]["In Source"]) == demo_export.source.patients


def test_the_reconciliation_gives_the_reason_for_every_excluded_and_failed_record(demo_export):
    lines = {
        row["Category"]: row
        for row in read_csv(demo_export.tree / "Clinical Data Export/reconciliation.csv")
    }
    source = demo_export.source

    faxes = lines[Category.FAXES_AND_REFERRALS.label]
    assert f"not tied to a patient: {source.unattached_count}" in faxes["Excluded Reasons"]
    assert "unlocked note" in lines[Category.CLINICAL_NOTES.label]["Excluded Reasons"]
    documents = lines[Category.DOCUMENTS.label]
    assert int(documents["Failed"]) == 1 and documents["Failed Reasons"]
    assert documents["Failed Record IDs"]
    labs = lines[Category.LAB_RESULTS.label]
    assert int(labs["Failed"]) == 1 and labs["Failed Reasons"] and labs["Failed Record IDs"]
    for line in lines.values():
        if int(line["Excluded"]):
            assert line["Excluded Reasons"]
        if int(line["Failed"]):
            assert line["Failed Reasons"] and line["Failed Record IDs"]


def test_a_corrupt_photo_is_reported_failed_rather_than_shipped(demo_export):
    lines = {
        row["Category"]: row
        for row in read_csv(demo_export.tree / "Clinical Data Export/reconciliation.csv")
    }
    (patient_id,) = demo_export.source.hard_case_patient_ids(HardCase.CORRUPT_IMAGE)
    photos = lines[Category.PATIENT_PHOTOS.label]

    assert patient_id in photos["Failed Record IDs"]
    assert "damaged image" in photos["Failed Reasons"]
    images = read_csv(demo_export.tree / "Patient Images Export/patient_images_index.csv")
    shipped_photos = [row for row in images if row["Kind"] == "photo"]
    assert shipped_photos, "the other patients' photos still ship"
    assert patient_id not in {row["Patient ID"] for row in shipped_photos}
