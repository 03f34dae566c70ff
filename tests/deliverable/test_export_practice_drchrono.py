"""``export_practice --source drchrono`` against the loopback fake DrChrono, in this process:
pytest-django refuses database access to tests not marked for it, so these runs also prove
the command never touches the portal's database."""

from __future__ import annotations

import json
import re
import stat
from collections import Counter
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from ccda_reader import read_ccda
from deliverable_helpers import (
    extract_with_seven_zip,
    medications_and_immunizations,
    read_csv,
    workbook_sheets,
)
from django.core.management import CommandError, call_command

from exports.management.commands import export_practice
from tests.fakes.drchrono_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeClock,
    FakeDrChrono,
    build_practice,
    ccda_document,
    vaccine_record,
)


@pytest.fixture
def drchrono(settings, monkeypatch) -> Iterator[FakeDrChrono]:
    with FakeDrChrono(build_practice()) as fake:
        settings.DRCHRONO_API_BASE_URL = fake.base_url
        settings.DRCHRONO_TOKEN_URL = fake.token_url
        settings.DRCHRONO_BACKOFF_MS = 1
        settings.DRCHRONO_MAX_ATTEMPTS = 2
        monkeypatch.setenv("DRCHRONO_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("DRCHRONO_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("DRCHRONO_ACCESS_TOKEN", fake.access_token)
        monkeypatch.setenv("DRCHRONO_REFRESH_TOKEN", fake.refresh_token)
        yield fake


def export_drchrono(tmp_path, *args: str, out: StringIO | None = None) -> str:
    out = out if out is not None else StringIO()
    call_command(
        "export_practice",
        "--source=drchrono",
        "--practice-name=Sunrise Pediatrics",
        f"--out={tmp_path / 'out'}",
        f"--password-file={tmp_path / 'password.txt'}",
        f"--token-file={tmp_path / 'drchrono-tokens.json'}",
        "--workers=2",
        *args,
        stdout=out,
    )
    return out.getvalue()


def test_a_drchrono_practice_exports_every_record_and_exits_0(drchrono, tmp_path):
    output = export_drchrono(tmp_path)

    (archive,) = (tmp_path / "out").glob("*.zip")
    assert archive.name.startswith("Sunrise Pediatrics_Data_Export_")
    assert f"Archive: {archive} (" in output
    assert "Every record exported or excluded with a reason." in output
    assert drchrono.api_requests("/api/patients_list")  # read in bulk
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no staging


#: What each hostile answer must become: a failed record, named with its reason.
HOSTILE_RECORDS = {
    "Problems": ("7777", "date_onset is not a date"),
    "Medications": ("4343", "date_prescribed is not a date"),
    "Allergies": ("4444", "names patient two, who is not in the DrChrono patient list"),
    "Appointments": ("9999", "duration is not a number"),
    "Signed Clinical Notes": ("5010", "clinical_notes 5010 file download was cut short"),
    "Uploaded Documents": ("4545", "documents 4545 file could not be downloaded"),
    "Insurance card images": ("1-primary:back", "content is a damaged image that does not open"),
}


def serve_hostile_answers(fake: FakeDrChrono) -> None:
    """Malformed records, a page of malformed JSON, downloads cut short (once, and for good),
    a file that is not there and a damaged image."""
    fake.practice = build_practice(malformed_record=True)  # problem 7777: an impossible date
    practice = fake.practice
    practice.objects("medications").append(
        {"id": 4343, "patient": 2, "doctor": 101, "name": None, "date_prescribed": "yesterday"}
    )
    practice.objects("allergies").append({"id": 4444, "patient": "two", "description": ["x"]})
    practice.objects("appointments").append(
        {"id": "9999", "patient": 2, "doctor": 101, "scheduled_time": "2021-03-01T12:00:00",
         "updated_at": "2021-03-01T12:00:00", "duration": "thirty", "vitals": "none",
         "icd10_codes": "I10"}
    )  # fmt: skip
    practice.objects("documents").append(
        {"id": 4545, "patient": 3, "doctor": 101, "date": "2021-02-03", "description": "Gone",
         "metatags": "{not json", "document": "/media/documents/missing.pdf"}
    )  # fmt: skip
    practice.files["/media/cards/1-back.jpg"].content = b"\xff\xd8\xff\xe0" + b"\x00noise" * 64
    fake.malformed_json("/api/allergies", times=1)
    fake.truncate("/media/documents/1301.pdf", times=1)  # resumed
    fake.truncate("/media/notes/5010.pdf", times=99)  # never arrives whole


def test_malformed_drchrono_answers_are_all_accounted_for_and_the_archive_opens(drchrono, tmp_path):
    serve_hostile_answers(drchrono)
    out = StringIO()

    with pytest.raises(CommandError, match=f"{len(HOSTILE_RECORDS)} records failed") as failed:
        export_drchrono(tmp_path, out=out)

    assert failed.value.returncode == 1
    lines = out.getvalue().splitlines()
    for label, (record_id, reason) in HOSTILE_RECORDS.items():
        assert f"{label}: failed ids: {record_id}" in lines
        assert any(line.startswith(f"{label}: 1 failed: {reason}") for line in lines), label
    (archive,) = (tmp_path / "out").glob("*.zip")
    password = (tmp_path / "password.txt").read_text().strip()
    [root] = extract_with_seven_zip(archive, password, tmp_path / "opened").iterdir()
    reconciliation = {
        row["Category"]: row
        for row in read_csv(root / "Clinical Data Export" / "reconciliation.csv")
    }
    for label, row in reconciliation.items():
        counts = [int(row[column]) for column in ("In Source", "Exported", "Excluded", "Failed")]
        assert counts[0] == sum(counts[1:]) and row["Balanced"] == "yes", label
        record_id, reason = HOSTILE_RECORDS.get(label, ("", ""))
        assert row["Failed Record IDs"] == record_id, label
        assert reason in row["Failed Reasons"], label
    practice = drchrono.practice
    for label, endpoint in (
        ("Problems", "problems"),
        ("Medications", "medications"),
        ("Allergies", "allergies"),
        ("Uploaded Documents", "documents"),
    ):
        assert int(reconciliation[label]["In Source"]) == len(practice.objects(endpoint)), label
    # The malformed JSON page was asked for again, and the cut download resumed.
    assert len(drchrono.api_requests("/api/allergies")) > 1
    documents = reconciliation["Uploaded Documents"]
    assert int(documents["Exported"]) == len(practice.objects("documents")) - 1


def test_records_for_patients_drchrono_does_not_list_are_reported_failed(drchrono, tmp_path):
    drchrono.practice.objects("medications").append({"id": 4242, "patient": 99, "name": "X"})
    out = StringIO()

    with pytest.raises(CommandError, match="1 records failed") as failed:
        export_drchrono(tmp_path, out=out)

    assert failed.value.returncode == 1
    (archive,) = (tmp_path / "out").glob("*.zip")
    assert archive.stat().st_size > 0
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("Medications: 1 failed: ") and "not in the DrChrono patient list" in line
        for line in lines
    )
    assert "Medications: failed ids: 4242" in lines


def test_a_patient_drchrono_cannot_be_read_is_reported_failed_with_its_records(drchrono, tmp_path):
    drchrono.practice.objects("patients")[1]["patient_status"] = "X"  # Bob
    out = StringIO()

    with pytest.raises(CommandError, match="records failed") as failed:
        export_drchrono(tmp_path, out=out)

    assert failed.value.returncode == 1
    assert list((tmp_path / "out").glob("*.zip"))  # balanced, so archived
    lines = out.getvalue().splitlines()
    assert "Patients: failed ids: 2" in lines
    assert "Patient Payments: 1 failed: the patient's record could not be read" in lines
    assert "Patient Payments: failed ids: 1702" in lines


def test_drchronos_own_c_cdas_ship_and_the_one_failing_the_schema_gives_way_to_ours(
    drchrono, tmp_path
):
    output = export_drchrono(tmp_path, "--keep-tree")

    tree = Path(output.split("Unpacked tree kept for inspection: ", 1)[1].splitlines()[0])
    shipped = {
        path.name.split("_", 1)[0]: path.read_bytes()
        for path in tree.glob("Clinical Data Export/CCDA Files/*.xml")
    }
    patients = {str(p["id"]): p for p in drchrono.practice.objects("patients")}
    assert sorted(shipped) == sorted(patients)
    for patient_id in ("1", "2", "3", "4"):
        assert shipped[patient_id] == ccda_document(patients[patient_id])
    assert shipped["5"] != ccda_document(patients["5"], valid=False)  # ours instead
    assert b"2.16.840.1.113883.10.20.22.1.2" in shipped["5"]  # a C-CDA R2.1 CCD
    asked = [r.path for r in drchrono.api_requests() if r.path.endswith("/ccda")]
    assert sorted(asked) == [f"/api/patients/{patient_id}/ccda" for patient_id in "12345"]


def kept_tree(output: str) -> Path:
    return Path(output.split("Unpacked tree kept for inspection: ", 1)[1].splitlines()[0])


def test_a_drchrono_c_cda_about_another_patient_or_failing_the_schematron_gives_way_to_ours(
    drchrono, tmp_path
):
    practice = drchrono.practice
    practice.ccda_of_another_patient["2"] = "1"  # Bob's chart answers with Alice's document
    practice.schematron_failing_ccda_patients.add("3")
    output = export_drchrono(tmp_path, "--keep-tree")

    tree = kept_tree(output) / "Clinical Data Export"
    patients = {str(p["id"]): p for p in practice.objects("patients")}
    shipped = {path.name.split("_", 1)[0]: path for path in tree.glob("CCDA Files/*.xml")}
    kept = {p.name.split("_", 1)[0]: p for p in tree.glob("CCDA Files/As received from the EHR/*")}
    assert sorted(shipped) == sorted(patients)
    assert shipped["1"].read_bytes() == ccda_document(patients["1"])
    for ours in ("2", "3", "5"):
        assert b"<softwareName>Export Portal</softwareName>" in shipped[ours].read_bytes()
    assert sorted(kept) == ["3", "5"]  # Alice's document is not filed under Bob
    assert kept["3"].name == shipped["3"].name
    assert kept["3"].read_bytes() == ccda_document(patients["3"], passes_schematron=False)

    rows = workbook_sheets(tree / "Patient_Data_Export.xlsx")["CCDA Files"]
    status = {(row["Patient ID"], row["Category"]): row["Export Status"] for row in rows}
    not_used = "exported (generated; the source's C-CDA was not used: "
    assert status["2", "C-CDA R2.1 CCD"] == (
        f"{not_used}it is not about this patient (name differs, birth date differs, sex differs,"
        " id differs))"
    )
    schematron = "it fails the C-CDA R2.1 Schematron errors phase (6 problems)"
    assert status["3", "C-CDA R2.1 CCD"] == (
        f"{not_used}{schematron}; kept in As received from the EHR/)"
    )
    assert status["3", "C-CDA as received from the EHR (not valid)"] == (
        f"exported (kept as received; not shipped as the patient's C-CDA: {schematron})"
    )
    assert len(rows) == len(patients) + len(kept)

    lines = {line["Category"]: line for line in read_csv(tree / "reconciliation.csv")}
    from_ehr = lines["C-CDAs from the EHR"]
    assert (from_ehr["In Source"], from_ehr["Exported"], from_ehr["Excluded"]) == ("5", "4", "1")
    assert "not used: it is not about this patient (" in from_ehr["Excluded Reasons"]
    assert lines["CCDA Files"]["Exported"] == "5"
    assert all(line["Balanced"] == "yes" for line in lines.values())
    manifest = {row["Path"].split("/CCDA Files/", 1)[-1] for row in read_csv(tree / "manifest.csv")}
    assert {f"As received from the EHR/{kept[p].name}" for p in kept} <= manifest


def test_an_independent_reader_agrees_with_the_workbook_on_drchrono_ccdas(
    drchrono, settings, tmp_path
):
    """Every shipped C-CDA names the workbook's patient; ours (here for every patient) also
    hold the workbook's medications, allergies and problems, read by ccda-to-fhir."""
    settings.DRCHRONO_SOURCE_CCDA = False
    tree = kept_tree(export_drchrono(tmp_path, "--keep-tree")) / "Clinical Data Export"

    sheets = workbook_sheets(tree / "Patient_Data_Export.xlsx")
    patients = {row["Patient ID"]: row for row in sheets["Patients"]}
    counts = {
        sheet: Counter(row["Patient ID"] for row in sheets[sheet])
        for sheet in ("Allergies", "Problems")
    }
    counts["Medications"], vaccines = medications_and_immunizations(sheets)
    assert all(counts[sheet] for sheet in counts)
    assert vaccines == Counter(
        str(record["patient"]) for record in drchrono.practice.objects("patient_vaccine_records")
    )
    documents = sorted(tree.glob("CCDA Files/*.xml"))
    assert len(documents) == len(patients)
    for document in documents:
        patient_id = document.name.split("_", 1)[0]
        read = read_ccda(document)
        row = patients[patient_id]
        assert (read.given, read.family) == (row["First Name"], row["Last Name"])
        born = row["Date of Birth"]
        assert read.birth_date == (born.date() if born else None)
        assert read.medications == counts["Medications"][patient_id]
        assert read.allergies == counts["Allergies"][patient_id]
        assert read.problems == counts["Problems"][patient_id]
        for sheet, read_statuses in (
            ("Problems", read.problem_statuses),
            ("Allergies", read.allergy_statuses),
        ):
            rows = [row for row in sheets[sheet] if row["Patient ID"] == patient_id]
            assert read_statuses == tuple(sorted(row["Status"] for row in rows))
        assert read.immunizations == vaccines[patient_id]


def test_drchronos_own_c_cdas_name_the_workbooks_patient_when_read_independently(
    drchrono, tmp_path
):
    tree = kept_tree(export_drchrono(tmp_path, "--keep-tree")) / "Clinical Data Export"

    patients = {
        row["Patient ID"]: row
        for row in workbook_sheets(tree / "Patient_Data_Export.xlsx")["Patients"]
    }
    for document in tree.glob("CCDA Files/*.xml"):
        read = read_ccda(document)
        row = patients[document.name.split("_", 1)[0]]
        assert (read.given, read.family) == (row["First Name"], row["Last Name"])
        born = row["Date of Birth"]
        assert read.birth_date == (born.date() if born else None)


def test_drchrono_lab_results_are_filed_by_how_they_arrived_and_ranges_read_alike(
    drchrono, tmp_path
):
    tree = kept_tree(export_drchrono(tmp_path, "--keep-tree")) / "Clinical Data Export"

    sheets = workbook_sheets(tree / "Patient_Data_Export.xlsx")
    manual = sheets["Lab Results"]
    electronic = sheets["Integration Lab Results"]
    assert {row["Category"] for row in manual} == {"manual"}
    assert len(manual) == len(drchrono.practice.objects("patient_lab_results"))
    assert sorted((row["Patient ID"], row["Vendor"]) for row in electronic) == [
        ("1", "Quest"),
        ("3", "HealthGorilla"),
    ]
    assert {row["Normal Range"] for row in manual} == {"4.0-5.6 %"}
    assert {row["Normal Range"] for row in electronic} == {"70-100 mg/dL"}


def test_renewed_tokens_are_saved_owner_only_so_the_grant_survives(drchrono, tmp_path):
    drchrono.expire_access_token()  # the first request gets a 401, the command renews

    export_drchrono(tmp_path)

    token_file = tmp_path / "drchrono-tokens.json"
    saved = json.loads(token_file.read_text())
    assert saved["refresh_token"] == drchrono.refresh_token  # the rotated one
    assert saved["access_token"] == drchrono.access_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_later_run_reads_the_tokens_an_earlier_run_saved(drchrono, tmp_path, monkeypatch):
    drchrono.expire_access_token()
    export_drchrono(tmp_path)
    monkeypatch.delenv("DRCHRONO_ACCESS_TOKEN")
    monkeypatch.delenv("DRCHRONO_REFRESH_TOKEN")
    (tmp_path / "password.txt").unlink()

    export_drchrono(tmp_path)

    assert len([r for r in drchrono.requests if r.path == "/o/token/"]) == 1


def test_when_drchrono_keeps_failing_the_command_exits_2_and_leaves_nothing(drchrono, tmp_path):
    drchrono.fail("/api/patients", 500, times=1000)

    with pytest.raises(CommandError, match="the export failed: ") as failed:
        export_drchrono(tmp_path)

    assert failed.value.returncode == 2
    assert "HTTP 500" in str(failed.value)
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "password.txt").exists()


def test_it_says_which_drchrono_settings_are_missing(drchrono, tmp_path, monkeypatch):
    monkeypatch.delenv("DRCHRONO_CLIENT_SECRET")

    with pytest.raises(CommandError, match="--source drchrono needs --client-secret"):
        export_drchrono(tmp_path)


# -- Within DrChrono's hourly allowance ----------------------------------------------------


class Interrupted(BaseException):
    """The person running the command stops it (as Ctrl-C would)."""


class StoppedWhileWaiting(FakeClock):
    """A fast clock whose first wait is cut short by the person running the command."""

    def sleep(self, seconds: float) -> None:
        if seconds > 60:
            raise Interrupted
        super().sleep(seconds)


def add_bare_patients(fake: FakeDrChrono, how_many: int) -> None:
    """Patients with demographics only: each still costs one API call for its C-CDA."""
    template = fake.practice.objects("patients")[1]
    fake.practice.objects("patients").extend(
        {**template, "id": 100 + n, "chart_id": f"BARE{n:05d}"} for n in range(how_many)
    )


def answered_api_calls(fake: FakeDrChrono) -> list[tuple[str, str, tuple]]:
    return [
        (r.method, r.path, tuple(sorted(r.query.items())))
        for r in fake.api_requests()
        if "uuid" not in r.query  # a bulk poll names a page asked for anew
    ]


def test_at_the_default_allowance_the_command_waits_for_the_next_hour_and_finishes(
    drchrono, tmp_path, settings, monkeypatch
):
    assert settings.DRCHRONO_REQUESTS_PER_HOUR == 500
    add_bare_patients(drchrono, 500)  # over 500 API calls with the source C-CDAs
    clock = FakeClock()
    monkeypatch.setattr(export_practice, "CLOCK", clock)

    output = export_drchrono(tmp_path, "--workers=1")

    assert len(drchrono.api_requests()) > 500
    assert len([seconds for seconds in clock.sleeps if seconds > 60]) == 1
    (until,) = re.findall(r"DrChrono's hourly allowance is spent: waiting until (.*)", output)
    assert until.endswith(":00:00 UTC")  # the top of the next hour
    assert "Every record exported or excluded with a reason." in output
    api_calls = len(drchrono.api_requests())
    assert f"DrChrono: {api_calls} API calls" in output
    assert f"{len(drchrono.file_requests())} file downloads" in output


def test_a_stopped_run_resumes_from_its_work_dir_repeating_no_answered_call(
    drchrono, tmp_path, monkeypatch
):
    add_bare_patients(drchrono, 500)
    work_dir = tmp_path / "work"
    monkeypatch.setattr(export_practice, "CLOCK", StoppedWhileWaiting())
    with pytest.raises(Interrupted):
        export_drchrono(tmp_path, "--workers=1", f"--work-dir={work_dir}")
    first_run = answered_api_calls(drchrono)
    assert len(drchrono.api_requests()) == 500  # the hour's allowance
    drchrono.requests.clear()
    monkeypatch.setattr(export_practice, "CLOCK", FakeClock(FakeClock().now + 3600))

    output = export_drchrono(tmp_path, "--workers=1", f"--work-dir={work_dir}")

    assert "Every record exported or excluded with a reason." in output
    assert not set(first_run) & set(answered_api_calls(drchrono))
    assert work_dir.exists()  # kept: the folder was the caller's


def test_a_refused_auxiliary_list_is_said_in_the_notes_and_the_export_finishes(drchrono, tmp_path):
    drchrono.refuse("/api/sublabs", 404)

    output = export_drchrono(tmp_path, "--keep-tree")

    note = "Unavailable: Lab vendor names are unavailable"
    assert any(line.startswith(note) for line in output.splitlines())
    tree = Path(output.split("Unpacked tree kept for inspection: ", 1)[1].splitlines()[0])
    reconciliation = (tree / "Clinical Data Export" / "reconciliation.csv").read_text("utf-8-sig")
    assert "Note: Lab vendor names are unavailable" in reconciliation


def test_a_refused_list_of_patient_data_fails_the_command_naming_the_list(drchrono, tmp_path):
    drchrono.refuse("/api/medications", 403)

    with pytest.raises(CommandError, match="refused the list /api/medications") as failed:
        export_drchrono(tmp_path)

    assert failed.value.returncode == 2


def test_on_a_terminal_the_progress_bar_says_until_when_it_waits():
    bars = export_practice._ProgressBars(enabled=True)
    bars.update("patients", 1, 10)

    shown = bars.waiting("DrChrono's hourly allowance is spent: waiting until 2026-12-02 15:00")

    assert shown
    assert bars.bar.postfix.endswith("waiting until 2026-12-02 15:00")
    bars.update("patients", 2, 10)
    assert not bars.bar.postfix
    bars._close()


def test_drchronos_own_c_cdas_come_last_so_a_spent_allowance_holds_up_nothing_else(
    drchrono, tmp_path, monkeypatch
):
    add_bare_patients(drchrono, 500)  # the C-CDAs alone are more than the hour's allowance
    work_dir = tmp_path / "work"
    monkeypatch.setattr(export_practice, "CLOCK", StoppedWhileWaiting())
    with pytest.raises(Interrupted):
        export_drchrono(tmp_path, "--workers=1", f"--work-dir={work_dir}")
    first_run = list(drchrono.requests)
    ccda_calls = [n for n, r in enumerate(first_run) if r.path.endswith("/ccda")]
    other_calls = [
        n for n, r in enumerate(first_run) if r.path.startswith(("/api/", "/media/"))
        and not r.path.endswith("/ccda")
    ]  # fmt: skip
    assert ccda_calls and max(other_calls) < min(ccda_calls)  # lists and files, then C-CDAs
    downloaded_first = {r.path for r in drchrono.file_requests()}
    drchrono.requests.clear()
    monkeypatch.setattr(export_practice, "CLOCK", FakeClock(FakeClock().now + 3600))

    output = export_drchrono(tmp_path, "--workers=1", f"--work-dir={work_dir}", "--keep-tree")

    assert "Every record exported or excluded with a reason." in output
    # every file the export needs was already in before the allowance ran out
    assert {r.path for r in drchrono.file_requests()} <= downloaded_first
    # the resumed run asked only for the C-CDAs the first could not
    asked_again = {r.path for r in drchrono.api_requests() if r.path.endswith("/ccda")}
    assert asked_again and not asked_again & {first_run[n].path for n in ccda_calls}
    tree = kept_tree(output) / "Clinical Data Export"
    shipped = list(tree.glob("CCDA Files/*.xml"))
    assert len(shipped) == len(drchrono.practice.objects("patients"))
    lines = {line["Category"]: line for line in read_csv(tree / "reconciliation.csv")}
    assert lines["C-CDAs from the EHR"]["In Source"] == str(len(shipped))


def test_drchrono_vaccine_records_are_the_c_cdas_immunizations_and_each_is_accounted_for(
    drchrono, tmp_path
):
    drchrono.practice = build_practice(vaccine_of_unknown_patient=True)
    # Alice's own C-CDA is valid and about her, but lists no vaccines: ours ships instead
    drchrono.practice.objects("patient_vaccine_records").append(
        vaccine_record(1302, 1, "COVID-19, mRNA", "208")
    )
    out = StringIO()

    with pytest.raises(CommandError, match="1 records failed"):
        export_drchrono(tmp_path, "--keep-tree", out=out)

    output = out.getvalue()
    assert drchrono.api_requests("/api/patient_vaccine_records")  # practice-wide
    assert not [r for r in drchrono.api_requests() if "patient_vaccine_records/" in r.path]
    tree = kept_tree(output) / "Clinical Data Export"
    shipped = {path.name.split("_", 1)[0]: path for path in tree.glob("CCDA Files/*.xml")}
    assert read_ccda(shipped["5"]).immunizations == 2  # the one without a CVX code included
    alice = read_ccda(shipped["1"])
    assert alice.immunizations == 1
    assert b"<softwareName>Export Portal</softwareName>" in shipped["1"].read_bytes()
    assert b'code="208"' in shipped["1"].read_bytes()
    rows = workbook_sheets(tree / "Patient_Data_Export.xlsx")["CCDA Files"]
    status = {(row["Patient ID"], row["Category"]): row["Export Status"] for row in rows}
    lacks = "it lacks 1 of the patient's 1 vaccine record"
    assert status["1", "C-CDA as received from the EHR (lacks vaccine records)"] == (
        f"exported (kept as received; not shipped as the patient's C-CDA: {lacks})"
    )

    medications = workbook_sheets(tree / "Patient_Data_Export.xlsx")["Medications"]
    vaccine_rows = {row["Medication ID"]: row for row in medications if row["Patient ID"] == "5"}
    assert (
        vaccine_rows["1300"]["Name"]
        == "Influenza, injectable, quadrivalent (immunization, CVX 150)"
    )
    assert vaccine_rows["1301"]["Name"] == "Tdap booster (outside record) (immunization)"
    assert vaccine_rows["1301"]["Status"] == "refused"
    lines = {line["Category"]: line for line in read_csv(tree / "reconciliation.csv")}
    immunizations = lines["Immunizations"]
    assert (immunizations["In Source"], immunizations["Exported"]) == ("4", "3")
    assert immunizations["Failed"] == "1"
    assert "not in the DrChrono patient list" in immunizations["Failed Reasons"]
    assert immunizations["Balanced"] == "yes"
    assert "Immunizations: failed ids: 1399" in output.splitlines()
