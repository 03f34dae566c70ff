"""Command-line tools some tests drive (7-Zip, Chromium, poppler), and what to do without them.

On a developer's machine that has only Python and make, a test that needs a missing tool is
skipped with the Debian package to install. In CI (``CI`` set) `.ci/run` installs every one of
them, so there nothing is skipped: a missing tool makes its tests fail, never pass unseen.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"


def tool_missing(command: str) -> bool:
    return shutil.which(command) is None and not os.environ.get("CI")


def needs_tool(command: str, debian_package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        tool_missing(command),
        reason=f"{command} is not installed (apt-get install {debian_package})",
    )


needs_7z = needs_tool("7z", "p7zip-full")
needs_chromium = needs_tool(CHROMIUM, "chromium")
needs_poppler = needs_tool("pdftotext", "poppler-utils")
