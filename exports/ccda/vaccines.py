"""Whether a C-CDA lists a patient's vaccine records: the CVX codes of its Immunizations
section against the records'. A source's own C-CDA ships as the patient's only when it does,
since the workbook has no immunization sheet and the C-CDA is the one place they are kept."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from exports.sources.records import Immunization

from . import vocabulary as voc
from .elements import V3

_NS = {"cda": V3}
#: Immunizations Section, entries optional (...2.2) and required (...2.2.1), any version
_VACCINE_CODES = (
    "//cda:section[cda:templateId[@root='2.16.840.1.113883.10.20.22.2.2'"
    " or @root='2.16.840.1.113883.10.20.22.2.2.1']]"
    "//cda:substanceAdministration/cda:consumable/cda:manufacturedProduct"
    "/cda:manufacturedMaterial/cda:code"
)


def vaccines_not_listed(document: Path, immunizations: Sequence[Immunization]) -> str:
    """Why the document does not list every vaccine record ("" when it does): a record
    without a CVX code cannot be found in it. Counts only, never content."""
    if not immunizations:
        return ""
    listed: Counter[str] = Counter()
    tree = etree.parse(str(document), etree.XMLParser(resolve_entities=False, no_network=True))
    for code in tree.xpath(_VACCINE_CODES, namespaces=_NS):
        codes = {code.get("code")} if code.get("codeSystem") == voc.CVX else set()
        codes |= {
            translation.get("code")
            for translation in code.iterfind("cda:translation", _NS)
            if translation.get("codeSystem") == voc.CVX
        }
        listed.update(codes - {None})
    wanted = Counter(immunization.cvx_code.strip() for immunization in immunizations)
    missing = sum(
        count if not cvx else max(0, count - listed[cvx]) for cvx, count in wanted.items()
    )
    if not missing:
        return ""
    total = len(immunizations)
    return f"it lacks {missing} of the patient's {total} vaccine record{'s' if total > 1 else ''}"
