"""``export_practice --source fhir-bulk`` against the loopback Bulk Data server, in this
process: the demo practice exported as a FHIR server would export it yields the deliverable
the demo source yields, every record accounted for."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from deliverable_helpers import PACKAGE_FILES, read_csv
from django.core.management import CommandError, call_command

from exports.packaging.layout import FAXES, MESSAGE_CENTER, REFERRALS
from exports.sources.fhir_bulk import KeyRing
from exports.sources.fhir_bulk.keys import ES384
from exports.sources.fhir_bulk.local import load_key_ring, save_key_ring
from tests.deliverable_checks import assert_deliverable_verifies
from tests.fakes.drchrono_server import ccda_document
from tests.fakes.fhir_bulk_practice import fhir_practice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer
from tests.sources.fhir_bulk_helpers import LARGE_DOCUMENT_BYTES, PATIENTS, SEED, demo_practice

#: reconciliation lines of what FHIR has no resource for: the fake exports none of them
NOT_IN_FHIR = {"Patient Payments", "Faxes and Referrals"}


@dataclass(frozen=True)
class Run:
    output: str
    returncode: int

    @property
    def tree(self) -> Path:
        return Path(self.output.split("Unpacked tree kept for inspection: ", 1)[1].splitlines()[0])

    def reconciliation(self) -> dict[str, dict[str, str]]:
        path = self.tree / "Clinical Data Export" / "reconciliation.csv"
        return {row["Category"]: row for row in read_csv(path)}


def run_command(*args: str) -> Run:
    out = StringIO()
    try:
        call_command("export_practice", *args, "--workers=2", "--keep-tree", stdout=out)
    except CommandError as exc:
        return Run(out.getvalue(), exc.returncode)
    return Run(out.getvalue(), 0)


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "fhir-keys.json"
    save_key_ring(path, KeyRing.create(ES384, now=datetime(2026, 1, 5, tzinfo=UTC)))
    return path


@pytest.fixture
def fhir_server(key_file) -> Iterator[FakeBulkServer]:
    with FakeBulkServer(fhir_practice(demo_practice()), load_key_ring(key_file).jwks()) as fake:
        yield fake


def export_fhir(tmp_path: Path, server: FakeBulkServer, key_file: Path, *args: str) -> Run:
    return run_command(
        "--source=fhir-bulk",
        "--practice-name=Demo Family Practice",
        f"--out={tmp_path / 'fhir-out'}",
        f"--password-file={tmp_path / 'fhir-password.txt'}",
        f"--fhir-base-url={server.base_url}",
        f"--fhir-client-id={CLIENT_ID}",
        f"--fhir-group-id={GROUP_ID}",
        f"--fhir-key-file={key_file}",
        *args,
    )


def export_demo(tmp_path: Path) -> Run:
    return run_command(
        "--source=demo",
        f"--patients={PATIENTS}",
        f"--seed={SEED}",
        f"--large-document-bytes={LARGE_DOCUMENT_BYTES}",
        f"--out={tmp_path / 'demo-out'}",
        f"--password-file={tmp_path / 'demo-password.txt'}",
    )


def files_of(run: Run) -> Counter[str]:
    """The deliverable's files, message-center files named by their patient, category and type
    only: FHIR gives an attachment no id of its own (its record id is the message's and its
    place in it), so its names differ in length, and a path cut to fit its 200 characters
    may cut the category folder or hash an id at another point. Faxes and referrals are
    named apart: FHIR carries none."""
    files = Counter()
    for path in run.tree.rglob("*"):
        if path.is_file():
            name = path.relative_to(run.tree).as_posix()
            patient, found, rest = name.partition(f"/{MESSAGE_CENTER}/")
            if found:
                category = rest.split("/", 1)[0]
                kind = next(
                    (full for full in (FAXES, REFERRALS) if full.startswith(category)),
                    "message",
                )
                name = f"{patient}/{MESSAGE_CENTER}/{kind}{path.suffix}"
            files[name] += 1
    return files


def test_the_practice_through_bulk_data_yields_the_demo_deliverable(
    fhir_server, key_file, tmp_path
):
    fhir = export_fhir(tmp_path, fhir_server, key_file)
    demo = export_demo(tmp_path)

    assert fhir.returncode == demo.returncode == 1, fhir.output  # the demo's failing files
    expected = files_of(demo)
    for name in list(expected):
        if f"/{MESSAGE_CENTER}/{FAXES}." in name or f"/{MESSAGE_CENTER}/{REFERRALS}." in name:
            del expected[name]
    assert set(PACKAGE_FILES) <= set(files_of(fhir))
    assert files_of(fhir) == expected
    assert_deliverable_verifies(fhir.tree)  # a Data Package that validates, SHA256SUMS that checks


def test_every_record_is_accounted_for_as_the_demo_source_accounts_for_it(
    fhir_server, key_file, tmp_path
):
    fhir = export_fhir(tmp_path, fhir_server, key_file).reconciliation()
    demo = export_demo(tmp_path).reconciliation()

    assert fhir.keys() == demo.keys()
    for label, row in fhir.items():
        counts = [int(row[column]) for column in ("In Source", "Exported", "Excluded", "Failed")]
        assert counts[0] == sum(counts[1:]) and row["Balanced"] == "yes", label
        if label in NOT_IN_FHIR:
            assert counts == [0, 0, 0, 0], label
        else:
            expected = demo[label]
            for column in ("In Source", "Exported", "Excluded", "Failed"):
                assert row[column] == expected[column], (label, column)
            if label != "Lab Results":
                assert row["Failed Record IDs"] == expected["Failed Record IDs"], label
    # The demo's unreadable lab result arrives as a line of NDJSON that is not JSON.
    assert fhir["Lab Results"]["Failed Record IDs"].startswith("Observation file 1 line ")
    assert (
        "the FHIR server has no such file (HTTP 404)"
        in fhir["Uploaded Documents"]["Failed Reasons"]
    )


def test_records_the_ehr_cannot_place_are_failed_and_the_archive_still_balances(
    fhir_server, key_file, tmp_path
):
    fhir_server.practice.add({"resourceType": "AllergyIntolerance", "id": "stray-1",
                              "patient": {"reference": "Patient/999999"}})  # fmt: skip
    fhir_server.errors.append({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing",
         "expression": ["Condition/lost-3"]}]})  # fmt: skip

    run = export_fhir(tmp_path, fhir_server, key_file)

    assert run.returncode == 1
    assert list((tmp_path / "fhir-out").glob("*.zip"))  # balanced, so archived
    lines = run.output.splitlines()
    assert "Allergies: failed ids: stray-1" in lines
    assert "Allergies: 1 failed: names a patient not in the export" in lines
    assert "Problems: failed ids: lost-3" in lines
    assert "Problems: 1 failed: the EHR could not export it (processing)" in lines


def test_the_ehrs_own_c_cda_is_shipped_when_it_passes_the_schema(fhir_server, key_file, tmp_path):
    patient = fhir_server.practice.patients()[-1]
    given, family = patient["name"][0]["given"][0], patient["name"][0]["family"]
    document = ccda_document({"id": patient["id"], "first_name": given, "last_name": family,
                              "date_of_birth": patient["birthDate"], "gender": "Male"})  # fmt: skip
    fhir_server.practice.add(
        {
            "resourceType": "DocumentReference",
            "id": "ccd-1",
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "date": "2025-06-30T12:00:00Z",
            "content": [
                {
                    "attachment": {
                        "contentType": "application/xml",
                        "data": base64.b64encode(document).decode(),
                    },
                    "format": {"code": "urn:hl7-org:sdwg:ccda-structuredBody:2.1"},
                }
            ],
        }
    )

    run = export_fhir(tmp_path, fhir_server, key_file)

    ccdas = {
        path.name.split("_", 1)[0]: path.read_bytes()
        for path in run.tree.glob("Clinical Data Export/CCDA Files/*.xml")
    }
    assert len(ccdas) == PATIENTS
    assert ccdas[patient["id"]] == document
    assert all(b"2.16.840.1.113883.10.20.22.1.2" in ccdas[other] for other in ccdas)


def test_it_says_which_fhir_settings_are_missing(tmp_path):
    with pytest.raises(CommandError, match="--source fhir-bulk needs --fhir-base-url"):
        call_command(
            "export_practice",
            "--source=fhir-bulk",
            "--practice-name=X",
            f"--out={tmp_path / 'out'}",
            f"--password-file={tmp_path / 'p.txt'}",
            f"--fhir-key-file={tmp_path / 'keys.json'}",
            "--fhir-client-id=c",
        )
