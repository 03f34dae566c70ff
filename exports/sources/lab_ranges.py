"""Lab reference ranges in one spelling, whoever wrote them: "12.0-16.0 g/dL".

Labs and EHRs write the same range many ways ("12.0 16.0", "12.0 - 16.0", "12.0 to 16.0",
units in a field of their own or not at all). Sources pass what they hold through
``reference_range`` so a manual result and an electronic one read the same in the workbook
and the C-CDA; ``parse_range`` reads the bounds back for coded values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_BOUNDS = re.compile(
    rf"^\s*(?P<low>{_NUMBER})\s*(?:-|\u2013|\u2014|to|\s)\s*(?P<high>{_NUMBER})\s*(?P<units>.*?)\s*$",
    re.IGNORECASE,
)
_LIMIT = re.compile(
    rf"^\s*(?P<op><=|>=|<|>|\u2264|\u2265)\s*(?P<value>{_NUMBER})\s*(?P<units>.*?)\s*$"
)


@dataclass(frozen=True, slots=True)
class RangeBounds:
    low: Decimal
    high: Decimal
    units: str  # as written after the bounds, "" when none


def parse_range(text: str) -> RangeBounds | None:
    """The bounds of a "low-high [units]" range (any of the usual separators), else None."""
    match = _BOUNDS.match(text)
    if match is None:
        return None
    return RangeBounds(Decimal(match["low"]), Decimal(match["high"]), match["units"])


def reference_range(text: str, units: str = "") -> str:
    """``text`` as "low-high units" (or "<limit units"), the numbers as the lab wrote them;
    ``units`` (the result's) is added when the range gives none. Anything else, such as
    "Negative", stays as written."""
    units = units.strip()
    if match := _BOUNDS.match(text):
        spelled = f"{match['low']}-{match['high']}"
        return " ".join(part for part in (spelled, match["units"] or units) if part)
    if match := _LIMIT.match(text):
        spelled = f"{match['op']}{match['value']}"
        return " ".join(part for part in (spelled, match["units"] or units) if part)
    return text.strip()
