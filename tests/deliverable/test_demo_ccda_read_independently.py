"""The demo practice's shipped C-CDAs, read by an independent reader (ccda-to-fhir), agree
with the workbook: name, birth date, and how many medications, allergies, problems and
immunizations (rows of the Medications sheet: the workbook has no immunization sheet), which
agree with the practice's vaccine records.
Also: the C-CDAs' sizes, for the record."""

from __future__ import annotations

import statistics
from collections import Counter

from ccda_reader import comparable, read_ccda
from deliverable_helpers import medications_and_immunizations, read_csv, workbook_sheets

CCDA = "Clinical Data Export/CCDA Files"


def test_an_independent_reader_agrees_with_the_workbook_on_every_shipped_ccda(demo_export):
    tree = demo_export.tree
    sheets = workbook_sheets(tree / "Clinical Data Export/Patient_Data_Export.xlsx")
    patients = {row["Patient ID"]: row for row in sheets["Patients"]}
    counts = {
        sheet: Counter(row["Patient ID"] for row in sheets[sheet])
        for sheet in ("Allergies", "Problems")
    }
    counts["Medications"], vaccines = medications_and_immunizations(sheets)
    statuses = {
        sheet: {
            patient_id: tuple(
                sorted(
                    str(row["Status"]) for row in sheets[sheet] if row["Patient ID"] == patient_id
                )
            )
            for patient_id in patients
        }
        for sheet in ("Allergies", "Problems")
    }
    documents = sorted((tree / CCDA).glob("*.xml"))
    assert len(documents) == len(patients)

    immunizations_seen = 0
    for document in documents:
        patient_id = document.name.split("_", 1)[0]
        row = patients[patient_id]
        read = read_ccda(document)
        given = " ".join(
            part for part in (comparable(row["First Name"]), comparable(row["Middle Name"])) if part
        )
        assert (comparable(read.given), comparable(read.family)) == (
            given,
            comparable(row["Last Name"]),
        ), patient_id
        born = row["Date of Birth"]
        assert read.birth_date == (born.date() if born else None), patient_id
        assert read.medications == counts["Medications"][patient_id], patient_id
        assert read.allergies == counts["Allergies"][patient_id], patient_id
        assert read.problems == counts["Problems"][patient_id], patient_id
        assert read.problem_statuses == statuses["Problems"][patient_id], patient_id
        assert read.allergy_statuses == statuses["Allergies"][patient_id], patient_id
        vaccine_records = demo_export.source.read_patient(patient_id).immunizations
        assert read.immunizations == len(vaccine_records) == vaccines[patient_id], patient_id
        immunizations_seen += read.immunizations
    assert immunizations_seen  # the practice has vaccine records, and they are read


def test_the_demo_source_gives_no_ccda_of_its_own_so_every_patient_gets_ours(demo_export):
    clinical = demo_export.tree / "Clinical Data Export"
    sheets = workbook_sheets(clinical / "Patient_Data_Export.xlsx")

    assert {row["Category"] for row in sheets["CCDA Files"]} == {"C-CDA R2.1 CCD"}
    assert not (demo_export.tree / CCDA / "As received from the EHR").exists()
    lines = {line["Category"]: line for line in read_csv(clinical / "reconciliation.csv")}
    from_ehr = lines["C-CDAs from the EHR"]
    assert (from_ehr["In Source"], from_ehr["Exported"], from_ehr["Balanced"]) == ("0", "0", "yes")


def test_the_demo_ccdas_sizes_are_in_proportion(demo_export, record_property):
    sizes = [path.stat().st_size for path in (demo_export.tree / CCDA).glob("*.xml")]
    record_property("ccda_largest_bytes", max(sizes))
    record_property("ccda_mean_bytes", round(statistics.mean(sizes)))
    print(f"C-CDA sizes: largest {max(sizes):,} bytes, mean {statistics.mean(sizes):,.0f} bytes")
    assert max(sizes) < 1_000_000


def test_lab_results_are_filed_by_how_they_arrived_and_ranges_read_alike(demo_export):
    sheets = workbook_sheets(demo_export.tree / "Clinical Data Export/Patient_Data_Export.xlsx")

    manual, electronic = sheets["Lab Results"], sheets["Integration Lab Results"]
    assert manual and electronic
    assert {row["Category"] for row in manual} == {"manual"}
    assert {row["Category"] for row in electronic} == {"quest", "labcorp", "integration"}
    for row in manual + electronic:
        low_high, unit = str(row["Normal Range"]).split(" ", 1)
        low, high = low_high.split("-")
        assert float(low) <= float(high), row["Normal Range"]
        assert unit == row["Units"], row["Normal Range"]
