"""The fast Schematron engine finds exactly what lxml's ISO Schematron (the reference XSLT
implementation, 100x slower) finds, on valid and on broken documents."""

from __future__ import annotations

import pytest
from ccda_builders import NS, allergy, appointment, ccd, demographics, medication, problem
from ccda_builders import lab_result as lab
from lxml import etree
from schematron_reference import failed_asserts

from exports.ccda.schematron import CompiledSchematron
from exports.ccda.validate import CCDA_SCHEMATRON, CCDA_VOCABULARY
from exports.sources.records import PatientRecord


@pytest.fixture(scope="module")
def engine() -> CompiledSchematron:
    return CompiledSchematron(CCDA_SCHEMATRON, phase="errors", vocabulary_path=CCDA_VOCABULARY)


def small_record() -> PatientRecord:
    return PatientRecord(
        demographics(),
        medications=[medication()],
        allergies=[allergy()],
        problems=[problem()],
        lab_results=[lab()],
        appointments=[appointment()],
    )


def remove(*xpaths: str):
    def mutate(root: etree._Element) -> None:
        for xpath in xpaths:
            for element in root.xpath(xpath, namespaces=NS):
                element.getparent().remove(element)

    return mutate


def set_attribute(xpath: str, name: str, value: str):
    def mutate(root: etree._Element) -> None:
        for element in root.xpath(xpath, namespaces=NS):
            element.set(name, value)

    return mutate


def together(*mutations):
    def mutate(root: etree._Element) -> None:
        for mutation in mutations:
            mutation(root)

    return mutate


# Each reference run takes seconds: few documents, each broken in several ways at once.
MUTATIONS = {
    "valid": lambda root: None,
    "entries broken": together(
        remove("//cda:substanceAdministration/cda:statusCode"),
        set_attribute("//cda:substanceAdministration", "moodCode", "PRP"),
        remove("//cda:organizer//cda:value", "//cda:act/cda:effectiveTime/cda:low"),
        remove("//cda:observation/cda:templateId[not(@extension)]"),
    ),
    "header and sections broken": together(
        remove(
            "/cda:ClinicalDocument/cda:custodian",
            "//cda:birthTime",
            "//cda:patientRole/cda:telecom",
            "//cda:section[cda:code/@code='48765-2' or cda:code/@code='8716-3']",
        ),
        set_attribute("//cda:section/cda:templateId[@extension]", "extension", "2099-01-01"),
    ),
    # The engine asks once about nodes alike (same template, same lets), and finds the
    # header's many contexts (addresses, names) from their one anchor: one node of each
    # broken, its like left whole.
    "one of several alike broken": remove(
        "(//cda:observation[cda:templateId[@root='2.16.840.1.113883.10.20.22.4.27']]"
        "/cda:templateId[not(@extension)])[2]",
        "/cda:ClinicalDocument/cda:recordTarget/cda:patientRole/cda:addr/cda:city",
    ),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_it_reports_the_same_failed_assertions_as_the_reference(mutate, reference, engine):
    root = etree.fromstring(ccd(small_record()))
    mutate(root)
    tree = root.getroottree()

    expected = {
        (assert_id, tree.getpath(element)) for assert_id, element in failed_asserts(reference, tree)
    }
    found = {
        (failure.assert_id, tree.getpath(failure.element))
        for failure in engine.failed_asserts(tree)
    }

    assert found == expected
