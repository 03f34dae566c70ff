"""Name parts of the deliverable: safe on every OS, Unicode kept, unique."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

from export_builders import demographics
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.packaging.layout import CLASH_NUMBER_ROOM, ExportLayout
from exports.packaging.naming import (
    PLACEHOLDER,
    UNKNOWN_DOB,
    extension_part,
    id_part,
    path_chars,
    patient_folder_name,
    practice_part,
    safe_part,
    safe_segment,
    timestamp_part,
)
from exports.sources.records import FaxOrReferralKind, InsurancePriority

FORBIDDEN = set('<>:"/\\|?*')
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10))}
RESERVED |= {f"LPT{n}" for n in range(1, 10)}


def assert_safe_segment(name: str) -> None:
    assert name
    assert not FORBIDDEN & set(name)
    assert all(unicodedata.category(char) not in ("Cc", "Cs") for char in name)
    assert name not in (".", "..")
    assert not name.endswith((".", " "))
    assert len(name.encode("utf-8")) <= 255
    assert name.split(".")[0].upper() not in RESERVED
    assert unicodedata.is_normalized("NFC", name)


def test_slashes_and_backslashes_become_dashes():
    assert safe_part("O'Brien/Smith\\Jones") == "O'Brien-Smith-Jones"


def test_dot_dot_cannot_climb_out_of_a_folder():
    assert safe_part("..") == PLACEHOLDER
    assert safe_part("../../etc") == "-..-etc"


def test_quotes_and_windows_forbidden_characters_are_replaced():
    assert safe_part('Ann "Nan" <a|b>: why?*') == "Ann -Nan- -a-b-- why--"


def test_reserved_device_names_get_a_leading_underscore_with_or_without_extension():
    assert safe_segment("CON") == "_CON"
    assert safe_segment("nul.pdf") == "_nul.pdf"
    assert safe_segment("Com1.txt") == "_Com1.txt"
    assert safe_segment("LPT9") == "_LPT9"
    assert safe_segment("CONSTANCE.pdf") == "CONSTANCE.pdf"


def test_reserved_words_as_record_ids_never_make_a_device_name():
    assert_safe_segment(safe_segment(f"{id_part('CON')}.pdf"))
    assert_safe_segment(safe_segment(f"{id_part('nul')}.pdf"))


def test_a_300_character_name_is_cut_to_its_bound_without_splitting_characters():
    assert len(safe_part("a" * 300).encode()) == 48
    chinese = safe_part("张" * 300)
    assert chinese == "张" * 16  # 3 bytes each
    folder = patient_folder_name(demographics(last_name="Ö" * 300, first_name="x" * 300))
    assert_safe_segment(folder)


def test_chinese_and_arabic_names_are_kept():
    folder = patient_folder_name(demographics(last_name="王", first_name="محمد"))
    assert folder == "1001_SMJO000001_王_محمد_1980-04-02"


def test_nfd_accents_are_composed_to_nfc():
    decomposed = "Jose\u0301"
    assert safe_part(decomposed) == "José"
    assert len(safe_part(decomposed)) == 4


def test_empty_first_name_gets_a_placeholder():
    assert patient_folder_name(demographics(first_name="  ")) == (
        "1001_SMJO000001_Smith_unknown_1980-04-02"
    )


def test_missing_and_impossible_dates_of_birth_are_unknown():
    missing = demographics(date_of_birth=None, date_of_birth_text="")
    impossible = demographics(date_of_birth=None, date_of_birth_text="1985-02-30")
    assert patient_folder_name(missing).endswith(f"_{UNKNOWN_DOB}")
    assert patient_folder_name(impossible).endswith(f"_{UNKNOWN_DOB}")


def test_trailing_dots_and_spaces_are_stripped():
    assert safe_part("Smith. . ") == "Smith"
    assert safe_part("  Jr.") == "Jr"


def test_control_characters_and_bidi_overrides_are_replaced_whitespace_collapsed():
    assert safe_part("Mary\tAnn\r\nLee") == "Mary Ann Lee"
    assert safe_part("photo\u202egpj.exe") == "photo-gpj.exe"
    assert safe_part("a\x00b\x7fc") == "a b c"  # issue 16 point 5: a space, words stay apart
    assert safe_part("Mary\x00\x00Ann\x1f") == "Mary Ann"


def test_same_name_same_dob_twins_stay_unique():
    twin_a = demographics(id="2001", chart_id="C1")
    twin_b = demographics(id="2002", chart_id="C1")
    assert patient_folder_name(twin_a) != patient_folder_name(twin_b)


def test_ids_that_sanitise_alike_stay_unique():
    slashed = patient_folder_name(demographics(id="A/1"))
    backslashed = patient_folder_name(demographics(id="A\\1"))
    assert slashed != backslashed
    assert slashed.startswith("A-1~")


def test_ids_differing_only_in_case_stay_unique_on_case_insensitive_disks():
    assert id_part("Ab").casefold() != id_part("ab").casefold()
    assert id_part("AB").casefold() != id_part("Ab").casefold()


def test_plain_ids_are_kept_verbatim():
    assert id_part("123456") == "123456"
    assert id_part("p-0001") == "p-0001"


def test_an_id_with_an_underscore_cannot_mimic_another_patients_folder():
    first = patient_folder_name(demographics(id="1_2", chart_id="3"))
    second = patient_folder_name(demographics(id="1", chart_id="2_3"))
    assert first != second


def test_received_at_is_file_safe():
    from datetime import datetime

    assert timestamp_part(datetime(2024, 3, 5, 14, 30, 0)) == "2024-03-05T14-30-00"


def test_extensions_are_short_lowercase_ascii_or_bin():
    assert extension_part(".PDF") == "pdf"
    assert extension_part("tar.gz") == "bin"
    assert extension_part("") == "bin"
    assert extension_part("averyverylongextension") == "bin"


def test_a_practice_name_never_starts_with_a_formula_character():
    assert practice_part("=HYPERLINK(x)") == "HYPERLINK(x)"
    assert practice_part("+-@") == "Practice"


def test_the_dob_of_a_patient_is_iso():
    assert patient_folder_name(demographics(date_of_birth=date(2001, 12, 9))).endswith(
        "_2001-12-09"
    )


@given(st.text())
def test_any_text_makes_a_safe_part_and_segment(text: str):
    part = safe_part(text)
    assert_safe_segment(safe_segment(part))
    assert len(part.encode("utf-8")) <= 48


@given(st.text(min_size=1), st.text(min_size=1))
def test_distinct_ids_give_distinct_parts_even_ignoring_case(first: str, second: str):
    if first != second:
        assert id_part(first).casefold() != id_part(second).casefold()
    assert "_" not in id_part(first)


@given(
    st.text(),
    st.text(),
    st.text(),
    st.text(),
    st.one_of(st.none(), st.dates()),
)
def test_any_patient_gets_a_safe_folder_that_starts_with_its_id_part(
    patient_id: str, chart_id: str, last: str, first: str, born: date | None
):
    patient = demographics(
        id=patient_id, chart_id=chart_id, last_name=last, first_name=first, date_of_birth=born
    )
    folder = patient_folder_name(patient)
    assert_safe_segment(folder)
    assert folder.startswith(f"{id_part(patient_id)}_")


# --- every path under 200 characters (issue 16 point 5) ------------------------------------

hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf")),
    max_size=400,
)
plain_ids = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=48)
any_ids = st.one_of(plain_ids, st.text(min_size=1, max_size=80))


def every_path(layout, paths, message_id, attachment_id, category):
    moment = datetime(2024, 3, 5, 14, 30)
    return [
        paths.ccda,
        paths.message(category, message_id, moment),
        paths.attachment(category, message_id, moment, attachment_id, "jpeg"),
        paths.fax_or_referral(FaxOrReferralKind.INBOUND_REFERRAL, message_id, moment, "tiff"),
        paths.lab_report(message_id, date(2024, 1, 2), "pdf"),
        paths.clinical_note(message_id),
        paths.document(attachment_id, "docx"),
        paths.photo("jpg"),
        paths.insurance_card(InsurancePriority.SECONDARY, "front", "jpeg"),
        layout.workbook,
        layout.image_index,
    ]


@settings(max_examples=200, deadline=None)
@given(
    practice=hostile_text,
    last=hostile_text,
    first=hostile_text,
    chart=hostile_text,
    category=hostile_text,
    patient_id=any_ids,
    message_id=any_ids,
    attachment_id=any_ids,
)
def test_every_path_has_fewer_than_200_characters_whatever_the_names_and_ids(
    practice, last, first, chart, category, patient_id, message_id, attachment_id
):
    layout = ExportLayout(practice, date(2026, 11, 23))
    patient = demographics(id=patient_id, chart_id=chart, last_name=last, first_name=first)
    paths = layout.for_patient(patient)
    for path in every_path(layout, paths, message_id, attachment_id, category):
        # room kept for a clash number ("front_2.jpg"), so even then a path stays under 200
        assert path_chars(str(path)) < 200 - CLASH_NUMBER_ROOM, str(path)
        for segment in path.parts:
            assert_safe_segment(segment)


def test_a_long_name_is_shortened_in_its_free_text_and_keeps_its_ids():
    layout = ExportLayout("Northwestern Regional Orthopaedic Associates", date(2026, 11, 23))
    patient = demographics(
        id="123456789",
        chart_id="WOLF000123",
        last_name="Wolfeschlegelsteinhausenbergerdorff",
        first_name="Hubert Blaine Maximilian",
    )
    paths = layout.for_patient(patient)
    moment = datetime(2024, 3, 5, 14, 30)
    attachment = paths.attachment("Patient Portal Correspondence", "987654321", moment, "55", "pdf")

    assert paths.folder.startswith("123456789_WOLF000123_Wolf")
    assert paths.folder.endswith("_1980-04-02")
    assert "987654321_2024-03-05T14-30-00_55.pdf" == attachment.name
    assert path_chars(str(attachment)) < 200
    assert layout.root.name.startswith("Northwestern Regional")


def test_short_names_and_ids_are_kept_whole():
    layout = ExportLayout("Sunrise Pediatrics", date(2024, 5, 1))
    paths = layout.for_patient(demographics())
    assert paths.folder == "1001_SMJO000001_Smith_Jane_1980-04-02"
    assert paths.message("Messages", "7", datetime(2024, 3, 5)).name == "7_2024-03-05T00-00-00.txt"


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(any_ids, min_size=2, max_size=6, unique=True), last=hostile_text)
def test_shortened_folders_stay_unique_per_patient_id(ids, last):
    layout = ExportLayout("P" * 60, date(2026, 11, 23))
    folders = {
        layout.for_patient(demographics(id=patient_id, last_name=last * 3)).folder.casefold()
        for patient_id in ids
    }
    assert len(folders) == len(ids)
