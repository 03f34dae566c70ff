"""What the validator tells the pipeline about a C-CDA: ours or a source's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ccda_builders import NS, ccd, parse, rich_record
from lxml import etree

from exports.ccda import Stage, validate_ccda
from exports.ccda.validate import CCDA_SCHEMATRON, CCDA_VOCABULARY, CDA_XSD, SCHEMAS

REPOSITORY = Path(__file__).resolve().parents[2]


def without(document: bytes, xpath: str) -> bytes:
    root = parse(document)
    for element in root.xpath(xpath, namespaces=NS):
        element.getparent().remove(element)
    return etree.tostring(root)


def test_a_document_missing_a_required_element_is_invalid_with_a_clear_problem():
    broken = without(
        ccd(rich_record()),
        "//cda:substanceAdministration[cda:templateId[@root='2.16.840.1.113883.10.20.22.4.16']]"
        "/cda:statusCode",
    )

    result = validate_ccda(broken, generated=True)

    assert not result.is_valid
    assert result.summary() == "invalid C-CDA (3 schematron problems)"
    problem = result.problems[0]
    assert problem.stage is Stage.SCHEMATRON
    assert problem.rule == "a-1098-7507"
    assert "SHALL contain exactly one [1..1] statusCode (CONF:1098-7507)" in problem.message
    assert problem.path == (
        "/ClinicalDocument/component/structuredBody/component[2]/section/entry[1]"
        "/substanceAdministration"
    )
    assert problem.line is not None and problem.line > 1


def test_a_document_the_xsd_refuses_is_invalid_at_the_xsd_stage():
    broken = (
        ccd(rich_record()).replace(b"<title>", b"<titel>", 1).replace(b"</title>", b"</titel>", 1)
    )

    result = validate_ccda(broken, generated=False)

    assert [problem.stage for problem in result.problems] == [Stage.XSD]
    assert "titel" in result.problems[0].message
    assert result.summary() == "invalid C-CDA (1 xsd problem)"


def test_a_source_document_is_held_to_the_xsd_only():
    # CDA allows a substanceAdministration without statusCode; C-CDA does not. A source's
    # C-CDA is exported as the source made it, so only the XSD decides whether it fails.
    without_status = without(ccd(rich_record()), "//cda:substanceAdministration/cda:statusCode")

    assert validate_ccda(without_status, generated=False).is_valid
    assert validate_ccda(without_status, generated=True).count(Stage.SCHEMATRON) == 3


def test_a_source_document_can_be_validated_from_its_spool_file(tmp_path):
    spooled = tmp_path / "source-ccda.xml"
    spooled.write_bytes(ccd(rich_record()))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><nonsense/></ClinicalDocument>")

    assert validate_ccda(spooled, generated=False).is_valid
    assert validate_ccda(broken, generated=False).count(Stage.XSD) == 1


def test_text_that_is_not_xml_is_reported_not_raised():
    result = validate_ccda(b"<ClinicalDocument><unclosed></ClinicalDocument>", generated=False)

    assert [problem.stage for problem in result.problems] == [Stage.XML]
    assert result.problems[0].line == 1


def test_external_entities_in_a_source_document_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    hostile = (
        f'<!DOCTYPE ClinicalDocument [<!ENTITY leak SYSTEM "file://{secret}">]>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&leak;</title></ClinicalDocument>'
    ).encode()

    result = validate_ccda(hostile, generated=False)

    assert not result.is_valid
    assert all("do not read me" not in problem.message for problem in result.problems)


def test_the_schemas_are_all_vendored_in_the_package():
    """Every file the XSD includes or imports, and the Schematron's value sets, resolve
    inside the package's schemas folder."""
    pending, seen = [CDA_XSD], set()
    while pending:
        schema = pending.pop()
        seen.add(schema)
        for location in etree.parse(str(schema)).xpath(
            "//xs:include/@schemaLocation | //xs:import/@schemaLocation",
            namespaces={"xs": "http://www.w3.org/2001/XMLSchema"},
        ):
            included = (schema.parent / location).resolve()
            assert included.is_relative_to(SCHEMAS) and included.exists(), location
            if included not in seen:
                pending.append(included)
    assert len(seen) == 7
    assert CCDA_SCHEMATRON.is_relative_to(SCHEMAS) and CCDA_SCHEMATRON.exists()
    assert CCDA_VOCABULARY.parent == CCDA_SCHEMATRON.parent and CCDA_VOCABULARY.exists()


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs util-linux unshare")
def test_the_validator_works_with_the_shared_schema_folder_out_of_sight(tmp_path):
    """A child process in its own mount namespace, with /work/shared covered by an empty
    tmpfs, generates and validates a document."""
    script = tmp_path / "validate.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            sys.path[:0] = [{str(REPOSITORY)!r}, {str(Path(__file__).parent)!r}]
            assert os.listdir("/work/shared") == []
            from ccda_builders import ccd, rich_record
            from exports.ccda import validate_ccda
            result = validate_ccda(ccd(rich_record()), generated=True)
            print(result.summary())
            """
        )
    )
    hide_shared = f"mount -t tmpfs tmpfs /work/shared && exec {sys.executable} {script}"
    completed = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide_shared],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if "mount" in completed.stderr and completed.returncode != 0 and not completed.stdout:
        pytest.skip("not allowed to make a private mount namespace here")
    assert completed.stdout.strip() == "valid", completed.stderr


def test_threads_validate_at_the_same_time_each_with_its_own_compiled_schemas():
    valid = ccd(rich_record())
    broken = without(valid, "//cda:substanceAdministration/cda:statusCode")

    def validate_both(_: int) -> tuple[bool, int]:
        return (
            validate_ccda(valid, generated=True).is_valid,
            validate_ccda(broken, generated=True).count(Stage.SCHEMATRON),
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(validate_both, range(6)))

    assert outcomes == [(True, 3)] * 6
