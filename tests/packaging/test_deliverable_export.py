"""Batches extracted, then packaged: the deliverable a customer receives, end to end."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from export_builders import (
    HTML_ERROR_PAGE,
    PDF,
    PNG,
    BytesBlob,
    ListSource,
    UnavailableBlob,
    build_ccd,
    full_patient,
    package_source,
    validate_ccd,
    validate_source_ccd,
)
from openpyxl import load_workbook

from exports import stages
from exports.packaging import ExportLayout, PackagingError, extract_batch, package
from exports.packaging.batch import tree_dir
from exports.packaging.spool import BatchNotCommitted
from exports.sources.demo import DemoSource
from exports.sources.demo_files import render_photo
from exports.sources.records import (
    Appointment,
    Category,
    ClinicalNote,
    Document,
    FaxOrReferral,
    FaxOrReferralKind,
    PhotoRecord,
    RecordExclusion,
    RecordFailure,
    TransientSourceError,
)

LAYOUT = ExportLayout("Sunrise Pediatrics", date(2024, 5, 1))
#: the files that describe the tree, written after the manifest (which does not list them)
DESCRIBING_FILES = ("datapackage.json", "Read me first.html", "Clinical Data Export/SHA256SUMS")
PATH_HEADERS = {"File Path", "Report File Path", "Card Front Path", "Card Back Path"}


def extract(source, staging: Path, batch_no: int, patient_ids, **options):
    return extract_batch(
        source,
        patient_ids,
        staging,
        batch_no,
        layout=LAYOUT,
        ccda_builder=options.get("ccda_builder", build_ccd),
        ccda_validator=options.get("ccda_validator", validate_ccd),
        source_ccda_validator=validate_source_ccd,
    )


def package_all(source, staging: Path, batch_numbers, **options):
    return package_source(source, staging, batch_numbers, layout=LAYOUT, **options)


def export(source, staging: Path, batches: list[list[str]]):
    for batch_no, patient_ids in enumerate(batches, start=1):
        extract(source, staging, batch_no, patient_ids)
    return package_all(source, staging, range(1, len(batches) + 1))


def files_in_tree(staging: Path) -> set[str]:
    tree = tree_dir(staging)
    return {path.relative_to(tree).as_posix() for path in tree.rglob("*") if path.is_file()}


def workbook_rows(result) -> dict[str, list[dict]]:
    workbook = load_workbook(result.root / "Clinical Data Export" / "Patient_Data_Export.xlsx")
    sheets = {}
    for sheet in workbook.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        sheets[sheet.title] = [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    return sheets


def workbook_paths(result) -> set[str]:
    return {
        value
        for sheet_rows in workbook_rows(result).values()
        for row in sheet_rows
        for header, value in row.items()
        if header in PATH_HEADERS and value
    }


def image_index(result) -> list[dict]:
    raw = (result.root / "Patient Images Export" / "patient_images_index.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_every_workbook_path_exists_and_every_file_is_listed_somewhere(tmp_path):
    source = ListSource([full_patient("1001"), full_patient("1002"), full_patient("1003")])
    result = export(source, tmp_path, [["1001", "1002"], ["1003"]])

    in_tree = files_in_tree(tmp_path)
    in_workbook = workbook_paths(result)
    in_index = {row["Path"] for row in image_index(result)}
    root = "Sunrise Pediatrics_Data_Export_2024-05-01"
    package_files = {
        f"{root}/Clinical Data Export/Patient_Data_Export.xlsx",
        f"{root}/Clinical Data Export/manifest.csv",
        f"{root}/Clinical Data Export/reconciliation.csv",
        f"{root}/Patient Images Export/patient_images_index.csv",
    }
    describing = {f"{root}/{name}" for name in DESCRIBING_FILES}
    assert in_workbook <= in_tree
    assert in_index <= in_tree
    assert in_tree == in_workbook | in_index | package_files | describing
    assert len(in_tree) == result.files + 1 + len(describing)
    assert all(path.startswith(f"{root}/") for path in in_tree)


def test_every_path_cell_links_to_its_file_relative_to_the_workbook(tmp_path):
    source = ListSource([full_patient("1001"), full_patient("1002")])
    result = export(source, tmp_path, [["1001", "1002"]])

    workbook_file = result.root / "Clinical Data Export" / "Patient_Data_Export.xlsx"
    workbook = load_workbook(workbook_file)
    linked = 0
    for sheet in workbook.worksheets:
        headers = [cell.value for cell in sheet[1]]
        for row in sheet.iter_rows(min_row=2):
            for header, cell in zip(headers, row, strict=True):
                if header not in PATH_HEADERS or not cell.value:
                    continue
                target = workbook_file.parent / unquote(cell.hyperlink.target)
                assert target.resolve() == (tmp_path / "tree" / cell.value).resolve()
                assert target.is_file()
                linked += 1
    assert linked == len(workbook_paths(result)) > 10


def test_every_path_stays_under_200_characters_with_long_names(tmp_path):
    long_name = "Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"
    source = ListSource(
        [
            full_patient(
                "1001", last_name=long_name, first_name="Hubert\x00Blaine Wolfe-Schlegel " * 3
            )
        ]
    )
    layout = ExportLayout("Northwestern Regional Orthopaedic and Sports Medicine", date(2024, 5, 1))
    for batch_no, patient_ids in enumerate([["1001"]], start=1):
        extract_batch(
            source,
            patient_ids,
            tmp_path,
            batch_no,
            layout=layout,
            ccda_builder=build_ccd,
            ccda_validator=validate_ccd,
            source_ccda_validator=validate_source_ccd,
        )
    package(
        tmp_path,
        [1],
        layout=layout,
        counts_in_source=source.counts_in_source(),
        unattached=source.unattached_records(),
        excluded_outside_patients=source.exclusions_outside_patients(),
    )

    in_tree = files_in_tree(tmp_path)
    assert len(in_tree) > 10
    assert max(len(path.encode("utf-16-le")) // 2 for path in in_tree) < 200
    folders = {path.split("/")[3] for path in in_tree if "/Patient Records/" in path}
    assert folders == {"1001_SMJO000001_Wolfesc_Hubert_1980-04-02"}  # names cut, ids whole
    center = [path.split("/")[5:] for path in in_tree if "/Message Center/" in path]
    message_folders = {
        folder for folder, _ in center if folder not in ("Faxes", "Referrals", "Lab Results")
    }
    assert len(message_folders) == 1  # a message and its attachment stay side by side
    (category,) = message_folders
    assert "Onpatient Messages".startswith(category) and len(category) < 18  # cut, not gone
    assert f"{category}/1001-msg1_2024-03-05T14-30-00.txt" in {"/".join(p) for p in center}


def test_the_workbook_lists_every_record_by_patient(tmp_path):
    result = export(
        ListSource([full_patient("1001"), full_patient("1002")]), tmp_path, [["1001"], ["1002"]]
    )
    sheets = workbook_rows(result)
    assert [row["Patient ID"] for row in sheets["Patients"]] == ["1001", "1002"]
    assert len(sheets["Insurance History"]) == 4
    assert len(sheets["Signed Clinical Notes"]) == 2  # the unlocked notes are not exported
    assert len(sheets["Message Center"]) == 4  # a message and its attachment, per patient
    assert len(sheets["Lab Results"]) == 2
    assert len(sheets["Integration Lab Results"]) == 2
    assert {row["Category"] for row in sheets["Faxes and Referrals"]} == {"Faxes", "Referrals"}
    appointment = sheets["Appointments"][0]
    assert appointment["Time"] == datetime(2024, 3, 5, 14, 30)
    assert appointment["ICD-10 Codes"] == "I10; E11.9"
    assert appointment["Weight (lb)"] == 180.5
    document = sheets["Uploaded Documents"][0]
    assert document["Tags"] == "Referral; Cardiology"
    assert document["Date"] == datetime(2023, 7, 1)
    assert all(row["Export Status"] == "exported" for row in sheets["CCDA Files"])


def test_the_reconciliation_balances_and_gives_reasons_for_exclusions(tmp_path):
    unattached = FaxOrReferral(
        id="f9",
        kind=FaxOrReferralKind.INCOMING_FAX,
        received_at=datetime(2024, 1, 1),
        patient_id=None,
    )
    source = ListSource([full_patient("1001")], unattached=[unattached])
    result = export(source, tmp_path, [["1001"]])
    reconciliation = result.reconciliation
    assert reconciliation.is_balanced
    assert not reconciliation.has_failures
    notes = reconciliation.line(Category.CLINICAL_NOTES)
    assert (notes.in_source, notes.exported, notes.excluded) == (2, 1, 1)
    assert notes.excluded_reasons == {"unlocked note (only signed notes are exported)": 1}
    faxes = reconciliation.line(Category.FAXES_AND_REFERRALS)
    assert faxes.excluded_reasons == {"not tied to a patient": 1}
    assert reconciliation.line("ccda_files").exported == 1
    report = (result.root / "Clinical Data Export" / "reconciliation.csv").read_text("utf-8-sig")
    assert "Signed Clinical Notes,2,1,1,0,yes,unlocked note" in report
    assert reconciliation.as_dict()["is_balanced"] is True


def test_a_deleted_appointment_is_excluded_with_a_reason_and_its_signed_note_still_ships(
    tmp_path,
):
    record = full_patient("1001")
    record.appointments.append(
        Appointment(id="apt-deleted", scheduled_time=datetime(2023, 1, 9, 9, 0), archived=True)
    )
    record.clinical_notes.append(
        ClinicalNote(
            id="apt-deleted",
            date=datetime(2023, 1, 9, 9, 0),
            locked=True,
            appointment_id="apt-deleted",
            pdf=BytesBlob(PDF),
        )
    )
    result = export(ListSource([record]), tmp_path, [["1001"]])

    appointments = result.reconciliation.line(Category.APPOINTMENTS)
    assert (appointments.in_source, appointments.exported) == (2, 1)
    assert appointments.excluded_reasons == {"deleted from the calendar in the source": 1}
    sheets = workbook_rows(result)
    assert [row["Appointment ID"] for row in sheets["Appointments"]] == ["1001-apt1"]
    assert "apt-deleted" in {row["Note ID"] for row in sheets["Signed Clinical Notes"]}
    assert result.reconciliation.is_balanced


def test_records_outside_patients_the_source_excludes_are_counted_with_the_reason(tmp_path):
    report = RecordExclusion(Category.MESSAGES, "m9", "not tied to a patient")
    source = ListSource([full_patient("1001")], excluded=[report])
    result = export(source, tmp_path, [["1001"]])

    messages = result.reconciliation.line(Category.MESSAGES)
    assert (messages.in_source, messages.exported) == (2, 1)
    assert messages.excluded_reasons == {"not tied to a patient": 1}
    assert result.reconciliation.is_balanced


def test_an_unreadable_patients_records_are_failed_by_id_so_the_reconciliation_balances(
    tmp_path,
):
    reason = "the patient's record could not be read"
    dependents = [
        RecordFailure(Category.PAYMENTS, "pay-7", reason),
        RecordFailure(Category.CLINICAL_NOTES, "note-7", reason),
    ]
    source = ListSource([full_patient("1001")], unreadable_with={"1007": dependents})
    result = export(source, tmp_path, [["1001", "1007"]])

    reconciliation = result.reconciliation
    assert reconciliation.is_balanced
    payments = reconciliation.line(Category.PAYMENTS)
    assert (payments.in_source, payments.exported, payments.failed) == (2, 1, 1)
    assert payments.failed_reasons == {reason: 1}
    assert payments.failed_ids == ("pay-7",)
    assert reconciliation.line(Category.CLINICAL_NOTES).failed_ids == ("note-7",)
    assert reconciliation.line(Category.PATIENTS).failed_ids == ("1007",)


SOURCE_CCDA = b"<ClinicalDocument><title>the EHR's own</title></ClinicalDocument>"
NOT_USED = "exported (generated; the source's C-CDA was not used: "


def shipped_ccda(result) -> tuple[bytes, dict]:
    (row,) = workbook_rows(result)["CCDA Files"]
    return (result.root.parent / row["File Path"]).read_bytes(), row


def test_the_sources_own_c_cda_ships_as_it_is_when_it_passes_the_schema(tmp_path):
    record = full_patient("1001")
    record.ccda = BytesBlob(SOURCE_CCDA, "xml")
    result = export(ListSource([record]), tmp_path, [["1001"]])

    content, row = shipped_ccda(result)
    assert content == SOURCE_CCDA
    assert (row["Category"], row["Export Status"]) == ("C-CDA from the source EHR", "exported")
    ccda = result.reconciliation.line("ccda_files")
    assert (ccda.in_source, ccda.exported) == (1, 1)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        (BytesBlob(b"<html>not a C-CDA</html>", "xml"), "it fails the CDA schema (1 problem))"),
        (UnavailableBlob(), "file truncated in source)"),
    ],
    ids=["invalid", "unavailable"],
)
def test_a_source_c_cda_that_is_invalid_or_unavailable_gives_way_to_ours_and_says_why(
    tmp_path, given, why
):
    record = full_patient("1001")
    record.ccda = given
    result = export(ListSource([record]), tmp_path, [["1001"]])

    content, row = shipped_ccda(result)
    assert content == build_ccd(record)
    assert (row["Category"], row["Export Status"]) == ("C-CDA R2.1 CCD", NOT_USED + why)
    assert result.reconciliation.line("ccda_files").exported == 1
    assert result.reconciliation.is_balanced
    assert not result.reconciliation.has_failures


def test_failures_are_reported_with_reasons_and_ids_and_the_export_goes_on(tmp_path):
    record = full_patient("1001")
    record.documents = [
        Document(id="d-gone", date=None, file=UnavailableBlob()),
        Document(id="d-none", date=None, file=None),
    ]
    record.photo = PhotoRecord(file=BytesBlob(HTML_ERROR_PAGE, "jpg"))
    record.clinical_notes[0] = ClinicalNote(
        id="n-bad", date=datetime(2024, 1, 1), locked=True, pdf=BytesBlob(b"not a pdf")
    )
    record.failures = [RecordFailure(Category.MEDICATIONS, "m-404", "medication unreadable")]
    source = ListSource([record, full_patient("1002")], unreadable=["1003"])
    result = export(source, tmp_path, [["1001", "1003"], ["1002"]])

    reconciliation = result.reconciliation
    assert reconciliation.is_balanced
    assert reconciliation.has_failures
    documents = reconciliation.line(Category.DOCUMENTS)
    assert documents.failed_reasons == {"file truncated in source": 1, "no file in the source": 1}
    assert set(documents.failed_ids) == {"d-gone", "d-none"}
    assert reconciliation.line(Category.PATIENT_PHOTOS).failed_reasons == {
        "content is not an image": 1
    }
    assert reconciliation.line(Category.CLINICAL_NOTES).failed_ids == ("n-bad",)
    assert reconciliation.line(Category.MEDICATIONS).failed_ids == ("m-404",)
    assert reconciliation.line(Category.PATIENTS).failed_ids == ("1003",)

    sheets = workbook_rows(result)
    statuses = {row["Document ID"]: row["Export Status"] for row in sheets["Uploaded Documents"]}
    assert statuses["d-gone"] == "failed: file truncated in source"
    unreadable = next(row for row in sheets["Patients"] if row["Patient ID"] == "1003")
    assert unreadable["Export Status"] == "failed: patient record unavailable"
    assert not any("patient_photo" in path for path in files_in_tree(tmp_path) if "/1001_" in path)
    assert not any(name.startswith(".export-partial-") for name in files_in_tree(tmp_path))
    assert [row["Kind"] for row in image_index(result) if row["Patient ID"] == "1001"] == [
        "insurance card",
        "insurance card",
    ]


def test_a_ccda_that_fails_to_build_or_validate_is_failed_not_shipped(tmp_path):
    def builder(record):
        if record.id == "1002":
            raise ValueError("Jane Smith's allergy has no code")  # PHI: must not be reported
        return b"<broken/>" if record.id == "1003" else build_ccd(record)

    source = ListSource([full_patient(patient_id) for patient_id in ("1001", "1002", "1003")])
    extract(source, tmp_path, 1, ["1001", "1002", "1003"], ccda_builder=builder)
    result = package_all(source, tmp_path, [1])

    ccda = result.reconciliation.line("ccda_files")
    assert (ccda.in_source, ccda.exported, ccda.failed) == (3, 1, 2)
    assert ccda.failed_reasons == {
        "C-CDA could not be built (ValueError)": 1,
        "C-CDA failed validation (1 problems)": 1,
    }
    assert "Jane" not in str(result.reconciliation.as_dict())
    assert len([path for path in files_in_tree(tmp_path) if path.endswith(".xml")]) == 1


def test_a_name_with_a_lone_surrogate_from_bad_source_data_is_exported(tmp_path):
    source = ListSource([full_patient("1001", last_name="Sm\ud800ith")])
    result = export(source, tmp_path, [["1001"]])
    assert workbook_rows(result)["Patients"][0]["Last Name"] == "Smith"
    assert image_index(result)[0]["Last Name"] == "Sm?ith"
    assert any("_Sm-ith_" in path for path in files_in_tree(tmp_path))


def test_two_files_that_would_share_a_name_are_both_kept(tmp_path):
    record = full_patient("1001")
    record.documents = [
        Document(id="d1", date=None, file=BytesBlob(b"first", "pdf")),
        Document(id="d1", date=None, file=BytesBlob(b"second", "PDF")),
    ]
    result = export(ListSource([record]), tmp_path, [["1001"]])
    paths = [row["File Path"] for row in workbook_rows(result)["Uploaded Documents"]]
    assert [path.rsplit("/", 1)[1] for path in paths] == ["d1.pdf", "d1_2.pdf"]
    contents = {(tree_dir(tmp_path) / path).read_bytes() for path in paths}
    assert contents == {b"first", b"second"}


def test_a_photo_cut_short_is_not_shipped_under_an_image_name(tmp_path):
    photo = render_photo("cut short")
    record = full_patient("1001")
    # It starts as a JPEG does: only decoding it all finds its image data ends too soon.
    record.photo = PhotoRecord(file=BytesBlob(photo[: len(photo) * 3 // 4], "jpg"))
    result = export(ListSource([record]), tmp_path, [["1001"]])

    assert result.reconciliation.line(Category.PATIENT_PHOTOS).failed_reasons == {
        "content is a damaged image that does not open": 1
    }
    assert not any("patient_photo" in path for path in files_in_tree(tmp_path))


def test_a_png_photo_keeps_its_true_extension(tmp_path):
    record = full_patient("1001")
    record.photo = PhotoRecord(file=BytesBlob(PNG, "jpg"), taken_on=date(2023, 1, 1))
    result = export(ListSource([record]), tmp_path, [["1001"]])
    photo = next(row for row in image_index(result) if row["Kind"] == "photo")
    assert photo["Path"].endswith("/patient_photo.png")
    assert photo["Date"] == "2023-01-01"


def test_rerunning_a_batch_replaces_its_files_and_rows_without_duplicates(tmp_path):
    record = full_patient("1001")
    source = ListSource([record, full_patient("1002")])
    extract(source, tmp_path, 1, ["1001"])
    extract(source, tmp_path, 2, ["1002"])
    first = package_all(source, tmp_path, [1, 2])
    first_tree = files_in_tree(tmp_path)

    extract(source, tmp_path, 1, ["1001"])  # a killed worker's batch, run again
    again = package_all(source, tmp_path, [1, 2])
    assert files_in_tree(tmp_path) == first_tree
    assert again.files == first.files
    assert again.reconciliation == first.reconciliation
    assert len(workbook_rows(again)["Patients"]) == 2

    record.documents = []  # the source changed between runs: no stale file may stay behind
    extract(source, tmp_path, 1, ["1001"])
    changed = package_all(source, tmp_path, [1, 2])
    assert changed.files == first.files - 1
    assert not any("Uploaded Documents/1001-doc1" in path for path in files_in_tree(tmp_path))


def test_a_batch_that_dies_half_way_leaves_nothing_the_package_step_reads(tmp_path):
    class FailingSource(ListSource):
        def read_patient(self, patient_id):
            if patient_id == "1002":
                raise TransientSourceError("throttled")
            return super().read_patient(patient_id)

    source = FailingSource([full_patient("1001"), full_patient("1002")])
    with pytest.raises(TransientSourceError):
        extract(source, tmp_path, 1, ["1001", "1002"])
    assert not (tmp_path / "batches" / "1" / "runs").exists() or not any(
        (tmp_path / "batches" / "1" / "runs").iterdir()
    )
    with pytest.raises(BatchNotCommitted, match="batch 1 has not completed"):
        package_all(source, tmp_path, [1])


def test_the_manifest_lists_every_file_sorted_with_its_size_and_sha256(tmp_path):
    result = export(
        ListSource([full_patient("1001"), full_patient("1002")]), tmp_path, [["1002"], ["1001"]]
    )
    manifest = result.root / "Clinical Data Export" / "manifest.csv"
    rows = list(csv.reader(io.StringIO(manifest.read_text("utf-8-sig"))))
    assert rows[0] == ["Path", "Bytes", "SHA-256"]
    paths = [row[0] for row in rows[1:]]
    assert paths == sorted(paths)
    not_listed = {manifest, *(result.root / name for name in DESCRIBING_FILES)}
    assert set(paths) == files_in_tree(tmp_path) - {
        str(path.relative_to(tree_dir(tmp_path))) for path in not_listed
    }
    for path, size, sha256 in rows[1:]:
        content = (tree_dir(tmp_path) / path).read_bytes()
        assert int(size) == len(content)
        assert sha256 == hashlib.sha256(content).hexdigest()


def test_patients_with_the_same_name_and_birthday_in_different_batches_stay_apart(tmp_path):
    twins = [full_patient("A/1"), full_patient("A\\1")]
    result = export(ListSource(twins), tmp_path, [["A/1"], ["A\\1"]])
    folders = {
        path.split("/")[3] for path in files_in_tree(tmp_path) if "/Patient Records/" in path
    }
    assert len(folders) == 2
    assert result.reconciliation.is_balanced


def test_records_the_source_counted_but_nobody_exported_unbalance_the_reconciliation(tmp_path):
    class UndercountingExport(ListSource):
        def counts_in_source(self):
            counts = dict(super().counts_in_source())
            counts[Category.MEDICATIONS] += 1  # a medication went missing on the way
            return counts

    result = export(UndercountingExport([full_patient("1001")]), tmp_path, [["1001"]])
    assert not result.reconciliation.is_balanced
    assert [line.key for line in result.reconciliation.unbalanced] == ["medications"]
    report = (result.root / "Clinical Data Export" / "reconciliation.csv").read_text("utf-8-sig")
    assert "NO: records unaccounted for" in report


def test_a_stray_file_in_the_tree_stops_the_package_step(tmp_path):
    source = ListSource([full_patient("1001")])
    extract(source, tmp_path, 1, ["1001"])
    stray = tree_dir(tmp_path) / LAYOUT.root / "Patient Images Export" / "old.jpg"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left from another export")
    with pytest.raises(PackagingError, match="1 files no batch listed"):
        package_all(source, tmp_path, [1])


def test_leftovers_of_killed_writers_are_swept(tmp_path):
    source = ListSource([full_patient("1001")])
    extract(source, tmp_path, 1, ["1001"])
    leftover = tree_dir(tmp_path) / LAYOUT.root / "Clinical Data Export" / "CCDA Files"
    (leftover / ".export-partial-0123").write_bytes(b"half a file")
    package_all(source, tmp_path, [1])
    assert not (leftover / ".export-partial-0123").exists()


def test_image_index_rows_describe_each_image_and_neutralise_formulas(tmp_path):
    result = export(
        ListSource([full_patient("1001", last_name="=cmd|' /C calc'!A0")]), tmp_path, [["1001"]]
    )
    index = image_index(result)
    assert [(row["Kind"], row["Insurance Priority"], row["Side"]) for row in index] == [
        ("insurance card", "primary", "front"),
        ("insurance card", "primary", "back"),
        ("photo", "", ""),
    ]
    assert all(row["Last Name"] == "'=cmd|' /C calc'!A0" for row in index)
    assert index[0]["Date of Birth"] == "1980-04-02"
    assert index[0]["Path"].endswith("/Primary Insurance/front.jpg")


def test_a_message_becomes_a_readable_text_file(tmp_path):
    export(ListSource([full_patient("1001")]), tmp_path, [["1001"]])
    message = next(path for path in files_in_tree(tmp_path) if path.endswith(".txt"))
    text = (tree_dir(tmp_path) / message).read_bytes().decode("utf-8-sig")
    assert text.startswith("Subject: Refill\r\n")
    assert "Attachments: rx.png" in text
    assert text.endswith("\r\n\r\nPlease refill.")


def test_a_batch_becomes_visible_by_one_commit_and_a_rename_per_patient_folder_not_per_file(
    tmp_path, monkeypatch
):
    renames = []
    for name in ("rename", "replace"):
        original = getattr(os, name)

        def counted(source, target, *, _original=original):
            renames.append(target)
            return _original(source, target)

        monkeypatch.setattr(os, name, counted)
    result = extract(
        ListSource([full_patient("1001"), full_patient("1002")]), tmp_path, 1, ["1001", "1002"]
    )

    # The commit pointer, then per patient its records folder, image folder, C-CDA and C-CDA
    # kept as received (tried, though these have none), and once more for each of the three
    # folders the first patient's entries made: a handful per patient, not one per file.
    assert len(renames) == 1 + 2 * 4 + 3
    assert result.files > len(renames)  # one rename per file would be at least as many


def test_a_batch_whose_process_dies_while_filing_its_patients_loses_nothing(tmp_path, monkeypatch):
    source = ListSource([full_patient("1001"), full_patient("1002")])
    reference = export(source, tmp_path / "reference", [["1001", "1002"]])

    original = os.rename
    filed = []

    def dies_after_two(source_path, target):
        if len(filed) == 2:
            raise KeyboardInterrupt  # the process is killed here
        filed.append(target)
        return original(source_path, target)

    staging = tmp_path / "killed"
    monkeypatch.setattr(os, "rename", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        extract(source, staging, 1, ["1001", "1002"])
    monkeypatch.setattr(os, "rename", original)
    assert len(filed) == 2  # committed, half filed

    result = package_all(source, staging, [1])  # finishes the filing
    assert files_in_tree(staging) == files_in_tree(tmp_path / "reference")
    assert result.manifest_sha256 == reference.manifest_sha256
    assert result.reconciliation.is_balanced


def test_the_deliverable_is_byte_for_byte_what_it_was_before_batches_wrote_their_own_folders(
    tmp_path,
):
    """The demo practice's manifest (paths, sizes and SHA-256 of every file, the workbook's
    included) as the export wrote it when each file was renamed into one shared tree."""
    source = DemoSource(patients=30, seed=7, large_document_bytes=65536)
    context = stages.ExportContext(
        "Golden Practice", "golden", "EXP-7", date(2025, 7, 1), datetime(2025, 7, 1, 9, tzinfo=UTC)
    )
    numbers = []
    for number, ids in enumerate(stages.plan_batches(source, 8), start=1):
        stages.run_batch(source, context, ids, tmp_path, number)
        numbers.append(number)
    packaged = stages.run_package(source, context, tmp_path, numbers)
    assert (packaged.files, packaged.bytes) == (444, 4_646_893)
    assert packaged.manifest_sha256 == (
        "33ffaccbbd1505d36e927408f2508f828169335540c52c2ca94af58c517f0b46"
    )


def test_a_stale_worker_committing_its_run_leaves_the_live_rerun_of_the_batch_alone(tmp_path):
    """A worker whose lease went stale finishes its run of batch 1 while the worker that took
    the batch over is half-way through its own: the live run must go on and win."""
    records = [full_patient("1001"), full_patient("1002")]

    class StaleRunCommitsMeanwhile(ListSource):
        stale_ran = False

        def read_patient(self, patient_id):
            if patient_id == "1002" and not self.stale_ran:
                self.stale_ran = True
                extract(ListSource(records), tmp_path, 1, ["1001", "1002"])
            return super().read_patient(patient_id)

    live = extract(StaleRunCommitsMeanwhile(records), tmp_path, 1, ["1001", "1002"])

    assert live.patients_exported == 2
    runs = list((tmp_path / "batches" / "1" / "runs").iterdir())
    assert len(runs) == 1  # the stale run, no longer live, went when the live one committed
    result = package_all(ListSource(records), tmp_path, [1])
    assert result.reconciliation.is_balanced
    assert len(workbook_rows(result)["Patients"]) == 2
