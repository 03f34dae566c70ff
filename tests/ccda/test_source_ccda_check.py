"""A source's own C-CDA is checked before it ships: about this patient, and valid under the
CDA schema and the C-CDA R2.1 Schematron errors phase (``check_source_ccda``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from exports.ccda import check_source_ccda
from exports.sources.records import Demographics, PatientStatus
from tests.fakes.drchrono_server import ccda_document

VENDOR_PATIENT = {
    "id": 1,
    "first_name": "Alice",
    "last_name": "Example",
    "date_of_birth": "1980-02-29",
    "gender": "Female",
}
ALICE = Demographics(
    id="1",
    chart_id="EXAL000001",
    first_name="Alice",
    last_name="Example",
    date_of_birth=date(1980, 2, 29),
    date_of_birth_text="1980-02-29",
    status=PatientStatus.ACTIVE,
    gender="Female",
)


def vendor_file(tmp_path: Path, **changes: object) -> Path:
    options = {key: changes.pop(key) for key in ("valid", "passes_schematron") if key in changes}
    path = tmp_path / "vendor.xml"
    path.write_bytes(ccda_document({**VENDOR_PATIENT, **changes}, **options))
    return path


def test_a_valid_document_about_the_patient_may_ship(tmp_path):
    verdict = check_source_ccda(vendor_file(tmp_path), ALICE)

    assert verdict.is_usable
    assert not verdict.keep_as_received
    assert verdict.reason() == ""


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"first_name": "Alicia"}, "name differs"),
        ({"last_name": "Sample"}, "name differs"),
        ({"date_of_birth": "1980-03-01"}, "birth date differs"),
        ({"gender": "Male"}, "sex differs"),
        ({"id": 2}, "id differs"),
        ({"date_of_birth": ""}, "birth date missing"),
        (
            {"id": 2, "first_name": "Bob", "last_name": "Sample", "date_of_birth": "1975-07-04"},
            "name differs, birth date differs, id differs",
        ),
    ],
    ids=["first name", "last name", "birth date", "sex", "id", "no birth date", "all"],
)
def test_a_document_about_someone_else_is_neither_shipped_nor_kept(tmp_path, changes, why):
    verdict = check_source_ccda(vendor_file(tmp_path, **changes), ALICE)

    assert not verdict.is_usable
    assert not verdict.keep_as_received
    assert verdict.reason() == f"it is not about this patient ({why})"


def test_names_compare_as_people_read_them_and_the_chart_id_is_an_id_of_the_patient(tmp_path):
    """Case, spacing and accents aside: many EHRs store names in plain ASCII."""
    document = vendor_file(tmp_path, first_name="ALICE ", last_name="Exámple", id="EXAL000001")

    assert check_source_ccda(document, ALICE).is_usable
    assert check_source_ccda(document, replace(ALICE, last_name="Exampel")).reason() == (
        "it is not about this patient (name differs)"
    )


def test_what_the_record_does_not_know_is_not_compared(tmp_path):
    document = vendor_file(tmp_path, gender="Male", date_of_birth="")

    assert check_source_ccda(document, replace(ALICE, gender="", date_of_birth=None)).is_usable


def test_a_document_about_the_patient_that_fails_the_schematron_is_kept_as_received(tmp_path):
    verdict = check_source_ccda(vendor_file(tmp_path, passes_schematron=False), ALICE)

    assert not verdict.is_usable
    assert verdict.keep_as_received
    assert verdict.reason() == "it fails the C-CDA R2.1 Schematron errors phase (6 problems)"


def test_a_document_about_the_patient_that_fails_the_schema_is_kept_as_received(tmp_path):
    verdict = check_source_ccda(vendor_file(tmp_path, valid=False), ALICE)

    assert verdict.keep_as_received
    assert verdict.reason().startswith("it fails the CDA schema (1 problem) and the C-CDA R2.1")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"<ClinicalDocument", "it is not well-formed XML"),
        (b"<html>a login page</html>", "it fails the CDA schema (1 problem)"),
    ],
    ids=["not well-formed", "not a C-CDA"],
)
def test_a_document_naming_no_patient_is_set_aside_with_the_reason(tmp_path, content, why):
    path = tmp_path / "vendor.xml"
    path.write_bytes(content)
    verdict = check_source_ccda(path, ALICE)

    assert not verdict.is_usable
    assert not verdict.keep_as_received
    assert verdict.reason() == why


def test_the_reason_names_fields_never_their_values(tmp_path):
    reason = check_source_ccda(vendor_file(tmp_path, last_name="Sample"), ALICE).reason()

    assert "Sample" not in reason
    assert "Example" not in reason


def test_a_document_embedding_a_large_scan_is_still_read(tmp_path):
    """A scanned PDF embedded as one base64 text node over libxml2's default 10 MB cap."""
    scan = "QUJD" * 2_700_000  # 10.8 MB of base64
    media = (
        '<component><section><code code="11506-3" codeSystem="2.16.840.1.113883.6.1"/>'
        "<title>Scans</title><text>Scanned referral</text><entry><observationMedia "
        'classCode="OBS" moodCode="EVN"><value mediaType="application/pdf" '
        f'representation="B64">{scan}</value></observationMedia></entry></section></component>'
    )
    path = vendor_file(tmp_path)
    path.write_bytes(
        path.read_bytes().replace(b"</structuredBody>", f"{media}</structuredBody>".encode())
    )

    verdict = check_source_ccda(path, ALICE)

    assert verdict.reason() == ""
    assert verdict.is_usable
