"""lxml's ISO Schematron: the reference implementation of the C-CDA R2.1 Schematron's
errors phase (every pattern, as XSLT over the whole document; seconds per document)."""

from __future__ import annotations

from lxml import etree, isoschematron

from exports.ccda.validate import CCDA_SCHEMATRON, SCHEMATRON_PHASE

SVRL = "http://purl.oclc.org/dsdl/svrl"


def compile_reference() -> etree.XSLT:
    compiled = isoschematron.Schematron(
        etree.parse(str(CCDA_SCHEMATRON)),
        phase=SCHEMATRON_PHASE,
        validate_schema=False,
        store_xslt=True,
    )
    # Re-parsed with a base URL in the schema's folder, so document('voc.xml') resolves.
    return etree.XSLT(
        etree.fromstring(
            etree.tostring(compiled.validator_xslt),
            base_url=str(CCDA_SCHEMATRON.with_name("compiled.xsl")),
        )
    )


def failed_asserts(
    reference: etree.XSLT, tree: etree._ElementTree
) -> list[tuple[str, etree._Element]]:
    """(assert id, the element it failed on) for each failed assertion."""
    return [
        (failure.get("id") or "", tree.xpath(failure.get("location"))[0])
        for failure in reference(tree).iter(f"{{{SVRL}}}failed-assert")
    ]
