"""The proof of a generated C-CDA takes the fast path (the tree in memory, the Schematron
engine that visits only the contexts a document has) and must agree with the plain, slow one
(the bytes parsed afresh, the XSD, every pattern of the reference ISO Schematron) on every
verdict and every problem: for the demo practice's documents, and for broken ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ccda_builders import NS
from demo_documents import demo_documents
from lxml import etree
from schematron_reference import failed_asserts

from exports.ccda import GeneratedCcd, Stage, validate_ccda
from exports.ccda.elements import V3
from exports.ccda.validate import CDA_XSD, _readable_path

Mutation = Callable[[etree._Element], None]


def remove(xpath: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        found = root.xpath(xpath, namespaces=NS)
        assert found, xpath
        for element in found:
            element.getparent().remove(element)

    return mutate


def change(xpath: str, name: str, value: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        found = root.xpath(xpath, namespaces=NS)
        assert found, xpath
        found[0].set(name, value)

    return mutate


def rename(xpath: str, tag: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        root.xpath(xpath, namespaces=NS)[0].tag = f"{{{V3}}}{tag}"

    return mutate


BROKEN = {
    "an entry without its statusCode": remove("//cda:entry//*[cda:statusCode][1]/cda:statusCode"),
    "an unknown element": rename("/cda:ClinicalDocument/cda:title", "titel"),
    "an attribute value outside its vocabulary": change(
        "//cda:section/cda:entry/*", "moodCode", "NOPE"
    ),
    "a section template of an unknown version": change(
        "//cda:section/cda:templateId[@extension]", "extension", "2099-01-01"
    ),
    "no custodian": remove("/cda:ClinicalDocument/cda:custodian"),
    # One of several nodes alike (same template; the engine asks about them at once) and
    # one of the header's many rule contexts below the same anchor.
    "one vital sign without its R1.1 templateId, the patient's address without its city": remove(
        "(//cda:observation[cda:templateId[@root='2.16.840.1.113883.10.20.22.4.27']]"
        "/cda:templateId[not(@extension)])[2]"
        " | /cda:ClinicalDocument/cda:recordTarget/cda:patientRole/cda:addr/cda:city"
    ),
}


def broken(document: GeneratedCcd, mutate: Mutation) -> GeneratedCcd:
    root = etree.fromstring(bytes(document))
    mutate(root)
    return GeneratedCcd.serialise(root)


def problems(document: bytes) -> list[tuple[Stage, str, str, str]]:
    """What a proof says, but for line numbers (a tree in memory was never read from text)."""
    return [
        (problem.stage, problem.path, problem.rule, problem.message)
        for problem in validate_ccda(document, generated=True).problems
    ]


@pytest.fixture(scope="module")
def documents() -> dict[str, GeneratedCcd]:
    return dict(demo_documents())


def test_the_tree_in_memory_and_the_bytes_parsed_again_get_the_same_verdicts(documents):
    for patient_id, document in documents.items():
        assert isinstance(document, GeneratedCcd)
        assert problems(document) == problems(bytes(document)) == [], patient_id


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_tree_fails_as_its_bytes_parsed_again_fail(mutate, documents):
    for patient_id in list(documents)[:6]:
        document = broken(documents[patient_id], mutate)

        fast = problems(document)

        assert fast, patient_id
        assert fast == problems(bytes(document)), patient_id


def slow_path(document: bytes, reference: etree.XSLT) -> set[tuple[Stage, str, str]]:
    """Parse the bytes, validate against a freshly compiled XSD and every Schematron pattern."""
    tree = etree.fromstring(document).getroottree()
    xsd = etree.XMLSchema(etree.parse(str(CDA_XSD)))
    xsd.validate(tree)
    return {(Stage.XSD, entry.path, entry.type_name) for entry in xsd.error_log} | {
        (Stage.SCHEMATRON, _readable_path(element), assert_id)
        for assert_id, element in failed_asserts(reference, tree)
    }


# The reference takes seconds per document: the smallest demo document, valid and broken.
SLOW_SAMPLE = {"valid": None} | {
    name: BROKEN[name]
    for name in (
        "an entry without its statusCode",
        "no custodian",
        "one vital sign without its R1.1 templateId, the patient's address without its city",
    )
}


@pytest.mark.parametrize("mutate", SLOW_SAMPLE.values(), ids=SLOW_SAMPLE.keys())
def test_the_fast_path_finds_what_the_plain_slow_path_finds(mutate, documents, reference):
    document = min(documents.values(), key=len)
    if mutate is not None:
        document = broken(document, mutate)

    fast = {(stage, path, rule) for stage, path, rule, _ in problems(document)}

    assert fast == slow_path(bytes(document), reference)
    assert bool(fast) == (mutate is not None)
