"""The CCD a patient's record becomes: valid, complete, faithful to the source's text."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from ccda_builders import (
    NS,
    allergy,
    appointment,
    ccd,
    demographics,
    empty_record,
    entry_ids,
    lab_result,
    medication,
    parse,
    problem,
    rich_record,
    vitals,
)

from exports.ccda import Organization, validate_ccda
from exports.sources.records import PatientRecord, PatientStatus

REQUIRED_SECTIONS = {
    "2.16.840.1.113883.10.20.22.2.6.1": "Allergies and Intolerances",
    "2.16.840.1.113883.10.20.22.2.1.1": "Medications",
    "2.16.840.1.113883.10.20.22.2.5.1": "Problems",
    "2.16.840.1.113883.10.20.22.2.3.1": "Results",
    "2.16.840.1.113883.10.20.22.2.4.1": "Vital Signs",
    "2.16.840.1.113883.10.20.22.2.17": "Social History",
}


def assert_valid(document: bytes) -> None:
    result = validate_ccda(document, generated=True)
    assert result.is_valid, "\n".join(str(problem) for problem in result.problems[:20])


def section(document: bytes, template_root: str):
    (found,) = parse(document).xpath(
        "//cda:section[cda:templateId[@root=$root]]", namespaces=NS, root=template_root
    )
    return found


def narrative(document: bytes, template_root: str) -> str:
    return "".join(section(document, template_root).find("cda:text", NS).itertext())


def test_a_rich_patient_passes_the_xsd_and_the_schematron_errors_phase():
    assert_valid(ccd(rich_record()))


def test_a_patient_with_no_clinical_data_still_gets_every_required_section():
    document = ccd(empty_record())

    assert_valid(document)
    for root, title in REQUIRED_SECTIONS.items():
        empty = section(document, root)
        assert empty.get("nullFlavor") == "NI"
        assert empty.findtext("cda:title", namespaces=NS) == title
        assert "No information" in narrative(document, root)
        assert empty.find("cda:entry", NS) is None


def test_sections_carry_r2_1_and_r1_1_template_ids():
    document = ccd(rich_record())

    allergies = section(document, "2.16.840.1.113883.10.20.22.2.6.1")
    template_ids = [
        (t.get("root"), t.get("extension")) for t in allergies.findall("cda:templateId", NS)
    ]
    assert template_ids == [
        ("2.16.840.1.113883.10.20.22.2.6.1", None),
        ("2.16.840.1.113883.10.20.22.2.6.1", "2015-08-01"),
    ]


def test_every_medication_allergy_and_problem_of_the_patient_is_in_the_document():
    record = PatientRecord(
        demographics=demographics(),
        medications=[medication(f"m-{n}", rxnorm=str(300000 + n)) for n in range(40)],
        allergies=[allergy(f"a-{n}", description=f"Allergen {n}", rxnorm="") for n in range(25)],
        problems=[problem(f"pr-{n}", snomed_code="", icd10_code=f"Z{n:02d}.0") for n in range(30)],
    )

    document = ccd(record)

    assert_valid(document)
    assert entry_ids(document, "medication") == [m.id for m in record.medications]
    assert entry_ids(document, "allergy") == [a.id for a in record.allergies]
    assert entry_ids(document, "problem") == [p.id for p in record.problems]
    root = parse(document)
    rxnorm = root.xpath(
        "//cda:manufacturedMaterial/cda:code[@codeSystem='2.16.840.1.113883.6.88']/@code",
        namespaces=NS,
    )
    assert rxnorm == [m.rxnorm for m in record.medications]
    icd10 = root.xpath(
        "//cda:observation/cda:value/cda:translation[@codeSystem='2.16.840.1.113883.6.90']/@code",
        namespaces=NS,
    )
    assert icd10 == [p.icd10_code for p in record.problems]


def test_codes_use_rxnorm_snomed_loinc_and_icd10_cm():
    root = parse(ccd(rich_record()))

    def codes(system: str) -> set[str]:
        return set(root.xpath("//*[@codeSystem=$system]/@code", namespaces=NS, system=system))

    assert {"314076", "7980"} <= codes("2.16.840.1.113883.6.88")  # RxNorm
    assert {"44054006", "247472004", "8517006"} <= codes("2.16.840.1.113883.6.96")  # SNOMED
    assert {"4548-4", "2345-7", "8480-6"} <= codes("2.16.840.1.113883.6.1")  # LOINC
    assert {"E11.9", "S52.501A", "I10"} <= codes("2.16.840.1.113883.6.90")  # ICD-10-CM


def test_entries_point_at_their_row_of_the_narrative_table():
    root = parse(ccd(rich_record()))

    references = root.xpath("//cda:entry//cda:reference/@value", namespaces=NS)
    narrative_ids = set(root.xpath("//cda:text//@ID", namespaces=NS))
    assert references
    assert {reference.removeprefix("#") for reference in references} <= narrative_ids


def test_an_uncoded_medication_says_so_and_keeps_its_name_in_the_narrative():
    document = ccd(
        PatientRecord(demographics(), medications=[medication(rxnorm="", name="Fish oil")])
    )

    (code,) = parse(document).xpath("//cda:manufacturedMaterial/cda:code", namespaces=NS)
    assert code.get("nullFlavor") == "OTH"
    reference = code.find("cda:originalText/cda:reference", NS).get("value")
    (cell,) = parse(document).xpath("//*[@ID=$id]", namespaces=NS, id=reference[1:])
    assert cell.text == "Fish oil"


def test_no_known_drug_allergies_is_a_negated_allergy_observation():
    document = ccd(
        PatientRecord(
            demographics(), allergies=[allergy(description="NKDA", rxnorm="", reaction="")]
        )
    )

    assert_valid(document)
    (observation,) = parse(document).xpath(
        "//cda:observation[cda:templateId[@root='2.16.840.1.113883.10.20.22.4.7']]", namespaces=NS
    )
    assert observation.get("negationInd") == "true"
    assert observation.find("cda:value", NS).get("code") == "416098002"


HOSTILE = (
    "Bell\x07 and NUL\x00 and VT\x0b gone; kept: <tag> & \"quotes\" 'single' "
    "Ελληνικά 中文 עברית e\u0301 n\u0303 \U0001f600 ]]> \t tab"
)


def test_hostile_free_text_is_kept_except_characters_xml_cannot_hold():
    long_note = "Long note. " * 1000  # 11,000 characters
    record = PatientRecord(
        demographics(first_name="Zoë\x01", last_name="O'Brien & <Sons>"),
        medications=[medication(name=HOSTILE, notes=long_note)],
        problems=[problem(name=f"Line one\nLine two\r\n{HOSTILE}")],
        appointments=[appointment(notes=long_note + HOSTILE)],
    )

    document = ccd(record)

    assert_valid(document)
    expected = HOSTILE.replace("\x07", "").replace("\x00", "").replace("\x0b", "")
    root = parse(document)
    assert root.findtext(".//cda:patient/cda:name/cda:given", namespaces=NS) == "Zoë"
    assert root.findtext(".//cda:patient/cda:name/cda:family", namespaces=NS) == "O'Brien & <Sons>"
    medications = narrative(document, "2.16.840.1.113883.10.20.22.2.1.1")
    assert expected in medications
    assert long_note in medications
    problems = section(document, "2.16.840.1.113883.10.20.22.2.5.1")
    (name_cell,) = problems.xpath(".//cda:td[@ID='problem-1-name']", namespaces=NS)
    assert name_cell.text == "Line one"
    assert [br.tail for br in name_cell.findall("cda:br", NS)] == ["Line two", expected]
    assert long_note + expected in narrative(document, "2.16.840.1.113883.10.20.22.2.22.1")


@pytest.mark.parametrize(
    "date_of_birth_text", ["", "1990-02-30", "13/45/1990", "0000-00-00"], ids=repr
)
def test_a_missing_or_impossible_birth_date_is_unknown_and_still_valid(date_of_birth_text):
    document = ccd(rich_record(date_of_birth=None, date_of_birth_text=date_of_birth_text))

    assert_valid(document)
    (birth_time,) = parse(document).xpath("//cda:patient/cda:birthTime", namespaces=NS)
    assert birth_time.attrib == {"nullFlavor": "UNK"}


def test_a_known_birth_date_is_the_birth_time():
    document = ccd(empty_record(date_of_birth=date(1950, 2, 3)))

    (birth_time,) = parse(document).xpath("//cda:patient/cda:birthTime/@value", namespaces=NS)
    assert birth_time == "19500203"


def test_a_deceased_patient_carries_the_deceased_indicator_and_time():
    document = ccd(rich_record(status=PatientStatus.DECEASED, date_of_death=date(2022, 8, 9)))

    assert_valid(document)
    patient = parse(document).find(".//cda:patient", NS)
    assert patient.find("sdtc:deceasedInd", NS).get("value") == "true"
    assert patient.find("sdtc:deceasedTime", NS).get("value") == "20220809"


def test_a_deceased_patient_without_a_date_of_death_has_an_unknown_deceased_time():
    document = ccd(empty_record(status=PatientStatus.DECEASED, date_of_death=None))

    assert_valid(document)
    patient = parse(document).find(".//cda:patient", NS)
    assert patient.find("sdtc:deceasedInd", NS).get("value") == "true"
    assert patient.find("sdtc:deceasedTime", NS).get("nullFlavor") == "UNK"


def test_a_living_patient_is_not_deceased():
    patient = parse(ccd(empty_record())).find(".//cda:patient", NS)

    assert patient.find("sdtc:deceasedInd", NS).get("value") == "false"
    assert patient.find("sdtc:deceasedTime", NS) is None


def test_demographics_are_coded_and_unknown_ones_are_null_flavored():
    known = parse(ccd(empty_record(race="Black", ethnicity="Hispanic", gender="Male")))
    unknown = parse(
        ccd(empty_record(race="", ethnicity="declined", gender="", preferred_language=""))
    )

    assert known.find(".//cda:raceCode", NS).get("code") == "2054-5"
    assert known.find(".//cda:ethnicGroupCode", NS).get("code") == "2135-2"
    assert known.find(".//cda:administrativeGenderCode", NS).get("code") == "M"
    assert known.find(".//cda:languageCommunication/cda:languageCode", NS).get("code") == "en"
    assert unknown.find(".//cda:raceCode", NS).get("nullFlavor") == "UNK"
    assert unknown.find(".//cda:ethnicGroupCode", NS).get("nullFlavor") == "ASKU"
    assert unknown.find(".//cda:administrativeGenderCode", NS).get("nullFlavor") == "UNK"
    assert unknown.find(".//cda:languageCommunication", NS) is None


def test_vitals_keep_their_us_units_in_ucum():
    document = ccd(PatientRecord(demographics(), appointments=[appointment()]))

    root = parse(document)
    values = {
        observation.find("cda:code", NS).get("code"): (
            observation.find("cda:value", NS).get("value"),
            observation.find("cda:value", NS).get("unit"),
        )
        for observation in root.xpath(
            "//cda:observation[cda:templateId[@root='2.16.840.1.113883.10.20.22.4.27']]",
            namespaces=NS,
        )
    }
    assert values == {
        "8302-2": ("65.5", "[in_i]"),
        "29463-7": ("150.2", "[lb_av]"),
        "39156-5": ("24.6", "kg/m2"),
        "8480-6": ("120", "mm[Hg]"),
        "8462-4": ("80", "mm[Hg]"),
        "8867-4": ("70", "/min"),
        "8310-5": ("98.6", "[degF]"),
        "9279-1": ("16", "/min"),
        "59408-5": ("98", "%"),
    }


def test_only_appointments_that_took_place_are_encounters():
    record = PatientRecord(
        demographics(),
        appointments=[
            appointment("held"),
            appointment("cancelled", status="Cancelled", vitals=None),
            appointment("no-show", status="No Show", vitals=None),
            appointment("future", scheduled_time=datetime(2030, 1, 1, 9), vitals=None),
        ],
    )

    document = ccd(record)

    assert_valid(document)
    assert entry_ids(document, "encounter") == ["held"]
    assert entry_ids(document, "encounter-diagnosis") == ["held/E11.9", "held/I10"]


def test_a_smoking_status_in_other_words_stays_in_the_narrative_only():
    document = ccd(
        PatientRecord(
            demographics(), appointments=[appointment(vitals=vitals(smoking_status="vapes"))]
        )
    )

    assert_valid(document)
    assert entry_ids(document, "smoking-status") == []
    assert "vapes" in narrative(document, "2.16.840.1.113883.10.20.22.2.17")


def test_the_same_record_always_gives_the_same_bytes():
    assert ccd(rich_record()) == ccd(rich_record())


def test_header_names_the_document_patient_author_and_custodian():
    root = parse(ccd(rich_record()))

    assert root.find("cda:code", NS).get("code") == "34133-9"
    assert root.find("cda:id", NS).get("extension") == "document/export-7/p-1"
    assert root.find("cda:effectiveTime", NS).get("value") == "20240601120000+0000"
    patient_ids = root.xpath("cda:recordTarget/cda:patientRole/cda:id/@extension", namespaces=NS)
    assert patient_ids == ["patient/p-1", "chart/CH-0001"]
    assert root.findtext(".//cda:assignedAuthoringDevice/cda:softwareName", namespaces=NS) == (
        "Export Portal"
    )
    assert root.findtext(".//cda:representedCustodianOrganization/cda:name", namespaces=NS) == (
        "Springfield Family Practice"
    )


def test_bad_arguments_are_refused_without_naming_patient_data():
    with pytest.raises(ValueError, match="record_id_root must be an OID or a UUID"):
        ccd(rich_record(), record_id_root="not an oid")
    with pytest.raises(ValueError, match="effective_time must be timezone-aware"):
        ccd(rich_record(), effective_time=datetime(2024, 6, 1, 12))


def test_malformed_source_codes_leave_the_entry_uncoded_and_the_document_valid():
    record = PatientRecord(
        demographics(id="p\x02 1"),
        medications=[medication(rxnorm="314076, 197361"), medication("m-2", rxnorm="31\x0176")],
        problems=[problem(icd10_code="E11.9 I10", snomed_code="")],
        lab_results=[lab_result(loinc_code="4548 4")],
        appointments=[
            appointment(icd10_codes=("E11 .9",), vitals=vitals(weight_lb=Decimal("NaN")))
        ],
    )

    document = ccd(record)

    assert_valid(document)
    root = parse(document)
    uncoded_drugs = root.xpath("//cda:manufacturedMaterial/cda:code/@nullFlavor", namespaces=NS)
    assert uncoded_drugs == ["OTH", "OTH"]
    assert entry_ids(document, "medication") == ["m-1", "m-2"]
    assert not root.xpath("//*[@codeSystem='2.16.840.1.113883.6.90']", namespaces=NS)
    assert "E11.9 I10" in narrative(document, "2.16.840.1.113883.10.20.22.2.5.1")
    assert not root.xpath("//cda:observation[cda:code/@code='29463-7']", namespaces=NS)


def test_an_appointment_id_with_characters_xml_cannot_hold_is_cleaned_in_every_entry_id():
    record = PatientRecord(
        demographics(),
        appointments=[appointment(id="ap\x01-7", icd10_codes=("E11.9",))],
    )

    document = ccd(record)

    assert_valid(document)
    for kind in ("encounter", "vital-signs", "vital-sign/8302-2", "smoking-status"):
        assert entry_ids(document, kind) == ["ap-7"]
    assert entry_ids(document, "encounter-diagnosis") == ["ap-7/E11.9"]


def test_a_practice_known_only_by_name_and_uuid_still_gives_a_valid_document():
    practice = Organization(
        name="Demo Family Practice", id_root=str(uuid.uuid5(uuid.NAMESPACE_URL, "p"))
    )

    document = ccd(rich_record(), custodian=practice, record_id_root=str(uuid.uuid4()))

    assert_valid(document)
    custodian = parse(document).find(".//cda:representedCustodianOrganization", NS)
    assert custodian.find("cda:telecom", NS).get("nullFlavor") == "UNK"
    assert custodian.find("cda:addr", NS).get("nullFlavor") == "UNK"
