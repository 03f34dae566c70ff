"""What a receiving EHR reads from our CCD: final results as final, doses with units and a
structured frequency, immunizations in CVX, problem and allergy status as the source says,
"no information" where the source has nothing, and a size in proportion to the record."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from ccda_builders import (
    NS,
    allergy,
    appointment,
    ccd,
    empty_record,
    immunization,
    lab_result,
    medication,
    parse,
    problem,
    rich_record,
)

from exports.ccda import validate_ccda

IMMUNIZATIONS = "2.16.840.1.113883.10.20.22.2.2.1"
RESULT_OBSERVATION = "2.16.840.1.113883.10.20.22.4.2"
RESULT_ORGANIZER = "2.16.840.1.113883.10.20.22.4.1"
CVX = "2.16.840.1.113883.12.292"


def assert_valid(document: bytes) -> None:
    result = validate_ccda(document, generated=True)
    assert result.is_valid, "\n".join(str(problem) for problem in result.problems[:20])


def with_templates(document: bytes, root: str) -> list:
    return parse(document).xpath("//*[cda:templateId[@root=$root]]", namespaces=NS, root=root)


# -- Results -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("F", "completed"),
        ("C", "completed"),
        ("Results Received", "completed"),
        ("Results Reviewed with Patient", "completed"),
        ("Signed off", "completed"),
        ("P", "active"),
        ("In Progress", "active"),
        ("", "active"),  # not claimed final when the source does not say
        ("X", "cancelled"),
    ],
)
def test_a_results_status_is_what_the_source_says_signed_off_ones_completed(status, code):
    record = replace(empty_record(), lab_results=[lab_result(status=status)])
    document = ccd(record)

    assert_valid(document)
    (observation,) = with_templates(document, RESULT_OBSERVATION)
    assert observation.find("cda:statusCode", NS).get("code") == code
    (organizer,) = with_templates(document, RESULT_ORGANIZER)
    assert organizer.find("cda:statusCode", NS).get("code") == code


@pytest.mark.parametrize(
    ("statuses", "code"),
    [(("F", "C"), "completed"), (("F", "X"), "completed"), (("F", "P"), "active")],
)
def test_an_order_is_completed_once_none_of_its_results_is_pending(statuses, code):
    results = [lab_result(f"l-{n}", status=status) for n, status in enumerate(statuses)]
    document = ccd(replace(empty_record(), lab_results=results))

    (organizer,) = with_templates(document, RESULT_ORGANIZER)
    assert organizer.find("cda:statusCode", NS).get("code") == code


@pytest.mark.parametrize("normal_range", ["12.0-16.0 g/dL", "12.0-16.0", "12.0 16.0"])
def test_a_reference_range_becomes_low_and_high_quantities(normal_range):
    result = lab_result(value="13.1", units="g/dL", normal_range=normal_range)
    document = ccd(replace(empty_record(), lab_results=[result]))

    assert_valid(document)
    (observation,) = with_templates(document, RESULT_OBSERVATION)
    value = observation.find("cda:referenceRange/cda:observationRange/cda:value", NS)
    low, high = value.find("cda:low", NS), value.find("cda:high", NS)
    assert (low.get("value"), high.get("value")) == ("12", "16")
    assert low.get("unit") == high.get("unit") == "g/dL"


# -- Medications ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "units", "dose"),
    [
        ("1", "tablet", {"value": "1", "unit": "{tablet}"}),
        ("2", "puffs", {"value": "2", "unit": "{puff}"}),
        ("2.5", "mg", {"value": "2.5", "unit": "mg"}),
        ("5", "mL", {"value": "5", "unit": "mL"}),
        ("1", "", {"value": "1"}),
        ("a spoonful", "", {"nullFlavor": "UNK"}),
        ("3", "scoops", {"nullFlavor": "UNK"}),
    ],
)
def test_a_dose_carries_its_unit_or_says_it_is_unknown(quantity, units, dose):
    record = replace(
        empty_record(), medications=[medication(dosage_quantity=quantity, dosage_units=units)]
    )
    document = ccd(record)

    assert_valid(document)
    (dose_quantity,) = parse(document).xpath("//cda:doseQuantity", namespaces=NS)
    assert dict(dose_quantity.attrib) == dose


@pytest.mark.parametrize(
    ("frequency", "period", "institution_specified"),
    [
        ("once daily", ("24", "h"), "true"),
        ("once daily at bedtime", ("24", "h"), "true"),
        ("twice daily", ("12", "h"), "true"),
        ("BID", ("12", "h"), "true"),
        ("three times daily for 10 days", ("8", "h"), "true"),
        ("every 6 hours as needed for pain", ("6", "h"), None),
        ("q4h", ("4", "h"), None),
        ("every other day", ("2", "d"), "true"),
        ("weekly", ("1", "wk"), "true"),
    ],
)
def test_a_frequency_is_a_periodic_interval(frequency, period, institution_specified):
    document = ccd(replace(empty_record(), medications=[medication(frequency=frequency)]))

    assert_valid(document)
    (pivl,) = parse(document).xpath(
        "//cda:substanceAdministration/cda:effectiveTime[@xsi:type='PIVL_TS']",
        namespaces=NS | {"xsi": "http://www.w3.org/2001/XMLSchema-instance"},
    )
    assert pivl.get("operator") == "A"
    assert pivl.get("institutionSpecified") == institution_specified
    period_element = pivl.find("cda:period", NS)
    assert (period_element.get("value"), period_element.get("unit")) == period


@pytest.mark.parametrize("frequency", ["as needed", "", "with meals if tolerated"])
def test_a_frequency_that_cannot_be_read_stays_in_the_narrative_only(frequency):
    document = ccd(replace(empty_record(), medications=[medication(frequency=frequency)]))

    assert_valid(document)
    (activity,) = parse(document).xpath("//cda:substanceAdministration", namespaces=NS)
    assert len(activity.findall("cda:effectiveTime", NS)) == 1
    if frequency:
        assert frequency in "".join(parse(document).itertext())


# -- Immunizations -------------------------------------------------------------------------


def test_every_vaccine_record_is_an_immunization_activity_coded_in_cvx():
    refused = immunization("im-2", vaccine="Td (adult)", cvx_code="09", status="refused")
    document = ccd(replace(rich_record(), immunizations=[immunization(), refused]))

    assert_valid(document)
    (section,) = with_templates(document, IMMUNIZATIONS)
    assert section.get("nullFlavor") is None
    activities = section.xpath("cda:entry/cda:substanceAdministration", namespaces=NS)
    codes = [
        activity.find(
            "cda:consumable/cda:manufacturedProduct/cda:manufacturedMaterial/cda:code", NS
        )
        for activity in activities
    ]
    assert [(code.get("code"), code.get("codeSystem")) for code in codes] == [
        ("150", CVX),
        ("09", CVX),
    ]
    assert [activity.get("negationInd") for activity in activities] == ["false", "true"]
    given = activities[0]
    assert given.find("cda:effectiveTime", NS).get("value") == "20221003"
    material = given.find("cda:consumable/cda:manufacturedProduct/cda:manufacturedMaterial", NS)
    assert material.findtext("cda:lotNumberText", namespaces=NS) == "FL2291"


def test_a_vaccine_record_without_a_cvx_code_keeps_its_name_and_says_so():
    record = replace(empty_record(), immunizations=[immunization(cvx_code="", vaccine="Flu shot")])
    document = ccd(record)

    assert_valid(document)
    (code,) = parse(document).xpath("//cda:manufacturedMaterial/cda:code", namespaces=NS)
    # CVX's "unknown vaccine": a receiver requiring a vaccine code still keeps the record
    assert (code.get("code"), code.get("codeSystem")) == ("999", "2.16.840.1.113883.12.292")
    assert code.find("cda:originalText/cda:reference", NS) is not None
    (section,) = with_templates(document, IMMUNIZATIONS)
    assert "Flu shot" in "".join(section.find("cda:text", NS).itertext())


# -- Problem and allergy status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "value"),
    [("active", "55561003"), ("inactive", "73425007"), ("resolved", "413322009"), ("", None)],
)
def test_problem_and_allergy_status_is_the_sources(status, value):
    record = replace(
        empty_record(), problems=[problem(status=status)], allergies=[allergy(status=status)]
    )
    document = ccd(record)

    assert_valid(document)
    for template, value_type in (
        ("2.16.840.1.113883.10.20.22.4.6", "CD"),  # Problem Status
        ("2.16.840.1.113883.10.20.22.4.28", "CE"),  # Allergy Status
    ):
        found = with_templates(document, template)
        if value is None:
            assert found == []  # a status the source did not give is not invented
            continue
        (observation,) = found
        (coded,) = observation.findall("cda:value", NS)
        assert (coded.get("code"), coded.get("codeSystem")) == (value, "2.16.840.1.113883.6.96")
        assert coded.get("{http://www.w3.org/2001/XMLSchema-instance}type") == value_type


# -- No information ------------------------------------------------------------------------


def test_sections_the_source_has_nothing_for_say_no_information_and_hold_no_entries():
    record = replace(empty_record(), allergies=[allergy()])
    document = ccd(record)

    assert_valid(document)
    sections = parse(document).xpath("//cda:section", namespaces=NS)
    flavored = {s.findtext("cda:title", namespaces=NS): s.get("nullFlavor") for s in sections}
    assert flavored.pop("Allergies and Intolerances") is None
    assert set(flavored.values()) == {"NI"}
    assert "Immunizations" in flavored
    for empty in sections[1:]:
        assert empty.find("cda:entry", NS) is None
        assert "No information" in "".join(empty.find("cda:text", NS).itertext())


# -- Size ----------------------------------------------------------------------------------


def visits(count: int) -> list:
    first = appointment()
    return [
        replace(first, id=f"ap-{n}", scheduled_time=datetime(2023, 1, 10) - timedelta(days=7 * n))
        for n in range(count)
    ]


def test_the_document_grows_in_proportion_to_the_record_and_repeats_no_narrative():
    base = len(ccd(empty_record()))
    ten = len(ccd(replace(empty_record(), appointments=visits(10)))) - base
    hundred = len(ccd(replace(empty_record(), appointments=visits(100)))) - base

    assert 9.5 * ten <= hundred <= 10.5 * ten
    assert hundred / 100 < 20_000  # bytes per visit with vitals and two diagnoses

    note = "Unique follow-up note 7f3a"
    document = ccd(replace(empty_record(), appointments=[appointment(notes=note)]))
    assert document.count(note.encode()) == 1  # entries point at the narrative, never copy it


def test_no_content_is_embedded():
    document = ccd(rich_record())

    tags = {element.tag.split("}")[-1] for element in parse(document).iter()}
    assert not tags & {"observationMedia", "nonXMLBody", "renderMultiMedia"}
    assert b'representation="B64"' not in document
