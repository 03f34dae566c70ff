"""The archive password: a passphrase read out by phone, strong, accepted by the zip tools."""

from __future__ import annotations

import math
import subprocess

from exports.archive import build_archive
from exports.passwords import (
    WORD_COUNT,
    entropy_bits,
    generate_archive_password,
    password_words,
    word_list,
)
from tests.tools import needs_7z


def test_it_is_seven_common_words_joined_by_hyphens():
    words = generate_archive_password().split("-")

    assert len(words) == WORD_COUNT == 7
    assert all(word in word_list() for word in words)
    assert all(word.isalpha() and word.islower() for word in words)


def test_it_draws_from_the_eff_large_diceware_list():
    # The published list has 7,776 words; the four that hold a hyphen are left out.
    assert len(word_list()) == 7_772
    assert {"abacus", "zoom"} <= set(word_list())


def test_it_carries_at_least_90_bits_of_entropy():
    assert entropy_bits() == WORD_COUNT * math.log2(7_772)
    assert entropy_bits() >= 90


def test_every_password_is_new():
    passwords = [generate_archive_password() for _ in range(2_000)]

    assert len(set(passwords)) == len(passwords)


def test_it_splits_into_its_words_for_the_page():
    assert password_words("alpha-bravo-charlie") == ["alpha", "bravo", "charlie"]
    assert password_words("K7M2QXW9TB") == ["K7M2QXW9TB"]


@needs_7z
def test_7zip_accepts_it_on_the_command_line(tmp_path):
    root = tmp_path / "Practice_Data_Export_2025-06-01"
    root.mkdir()
    (root / "note.txt").write_text("hello")
    password = generate_archive_password()
    (part,) = build_archive(root, tmp_path / "out", password)

    result = subprocess.run(
        ["7z", "t", f"-p{password}", str(part.path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stdout
    assert "Everything is Ok" in result.stdout
