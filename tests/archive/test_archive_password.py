"""The archive password: strong, readable, and accepted by the zip tools customers use."""

from __future__ import annotations

import re
import subprocess

from exports.archive import build_archive
from exports.passwords import ALPHABET, ENTROPY_BITS, generate_archive_password
from tests.tools import needs_7z


def test_it_is_eight_groups_of_five_joined_by_dashes():
    password = generate_archive_password()

    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){7}", password)


def test_it_has_no_characters_that_read_alike():
    assert not set("0O1lI") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 32


def test_it_carries_at_least_128_bits_of_entropy():
    assert ENTROPY_BITS == 200
    assert ENTROPY_BITS >= 128


def test_every_password_is_new_and_uses_the_whole_alphabet():
    passwords = [generate_archive_password() for _ in range(2_000)]

    assert len(set(passwords)) == len(passwords)
    assert set("".join(passwords).replace("-", "")) == set(ALPHABET)


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
