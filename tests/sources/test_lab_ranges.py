"""Reference ranges read the same whoever wrote them: "low-high units"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exports.sources.lab_ranges import parse_range, reference_range


@pytest.mark.parametrize(
    ("text", "units", "spelled"),
    [
        ("12.0 16.0", "g/dL", "12.0-16.0 g/dL"),  # an electronic result's range, space apart
        ("12.0-16.0", "g/dL", "12.0-16.0 g/dL"),  # a manual one, without its units
        ("12.0 - 16.0", "g/dL", "12.0-16.0 g/dL"),
        ("12.0 to 16.0", "g/dL", "12.0-16.0 g/dL"),
        ("12.0\u201316.0", "g/dL", "12.0-16.0 g/dL"),
        ("70-100 mg/dL", "mg/dL", "70-100 mg/dL"),  # units already there: kept, not doubled
        ("70-100 mg/dl", "mg/dL", "70-100 mg/dl"),
        ("-2.0-2.0", "mmol/L", "-2.0-2.0 mmol/L"),
        ("4.0-5.6", "", "4.0-5.6"),
        ("<5", "mg/L", "<5 mg/L"),
        ("> 60", "mL/min", ">60 mL/min"),
        ("Negative", "", "Negative"),
        ("  ", "g/dL", ""),
    ],
)
def test_a_range_is_spelled_low_dash_high_then_units(text, units, spelled):
    assert reference_range(text, units) == spelled


def test_the_bounds_of_a_range_are_read_back_with_its_units():
    bounds = parse_range("12.0-16.0 g/dL")

    assert bounds is not None
    assert (bounds.low, bounds.high, bounds.units) == (Decimal("12.0"), Decimal("16.0"), "g/dL")
    assert parse_range("Negative") is None
