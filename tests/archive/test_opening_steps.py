"""The delivery email's steps to open the archive, followed word for word with 7-Zip: one
password, then the contents zip with none, every part into one folder, the whole tree back."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string

from exports.archive import build_archive
from tests.archive.test_encrypted_archive import PASSWORD, PATIENTS, ROOT, make_tree, snapshot
from tests.tools import needs_7z


def delivery_email() -> str:
    manager = SimpleNamespace(get_full_name=lambda: "Ann Manager", email="ann@example.com")
    export_request = SimpleNamespace(
        poc_name="Dana",
        poc_email="dana@example.com",
        reference="EXP-000042",
        practice=SimpleNamespace(name="Sunrise"),
        access_expires_at=datetime(2026, 12, 31, tzinfo=UTC),
    )
    return render_to_string(
        "emails/delivery_instructions.txt",
        {"r": export_request, "manager": manager, "via_box": False, "access": {}},
    )


def linux_commands(email: str) -> list[str]:
    """The commands the email tells a Linux user to run, in order."""
    return re.findall(r"^ {4}(7z .+)$", email, flags=re.MULTILINE)


def test_the_email_gives_one_password_step_then_a_step_without_one():
    email = delivery_email()
    assert linux_commands(email) == ["7z x NAME.zip", "7z x NAME.contents.zip"]
    assert "7-Zip" in email and "Keka" in email and "The Unarchiver" in email
    assert "no second password" in email


def follow_the_email(downloads: Path, part_name: str) -> None:
    """Run the email's commands for one downloaded file, typing the password when asked."""
    name = part_name.removesuffix(".zip")
    first, second = (
        command.replace("NAME", name).split() for command in linux_commands(delivery_email())
    )
    before = set(downloads.iterdir())
    asked = subprocess.run(
        first, cwd=downloads, input=f"{PASSWORD}\n", capture_output=True, text=True
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert {path.name for path in set(downloads.iterdir()) - before} == {f"{name}.contents.zip"}
    # no password this time: with nothing to type, 7-Zip would fail if it asked for one
    opened = subprocess.run(
        [*second, "-y"], cwd=downloads, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert opened.returncode == 0, opened.stdout + opened.stderr


@needs_7z
@pytest.mark.parametrize("part_bytes", [None, 40_000], ids=["one file", "several parts"])
def test_following_the_email_with_7zip_gives_back_the_whole_tree(tmp_path, part_bytes):
    root = make_tree(tmp_path, PATIENTS)
    options = {} if part_bytes is None else {"part_bytes": part_bytes}
    parts = build_archive(root, tmp_path / "out", PASSWORD, **options)
    assert (len(parts) > 1) == (part_bytes is not None)
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    for part in parts:
        shutil.copy(part.path, downloads)

    for part in parts:
        follow_the_email(downloads, part.path.name)

    assert snapshot(downloads / ROOT) == snapshot(root)
