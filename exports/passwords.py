"""The archive password: random, readable aloud, typeable into 7-Zip.

Format: 8 groups of 5 characters joined by "-", e.g. ``K7M2Q-XW9TB-...``. The alphabet is the
digits 2-9 and the capital letters without I and O: 32 symbols that cannot be mistaken for one
another (no 0/O, no 1/I/l, no lower case to mix up when read over the phone). Every character
is drawn independently with ``secrets``, so the entropy is 40 x log2(32) = 200 bits, well above
the 128 bits the archive key needs (WinZip AES derives its key with only 1,000 PBKDF2 rounds,
so the password itself has to carry the strength). Plain ASCII: every zip tool accepts it.

The password is a secret: never log it, never put it in an exception or a task argument.
"""

from __future__ import annotations

import math
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
GROUPS = 8
GROUP_LENGTH = 5
SEPARATOR = "-"

#: bits of entropy in one generated password (200 with the settings above)
ENTROPY_BITS = GROUPS * GROUP_LENGTH * math.log2(len(ALPHABET))


def generate_archive_password() -> str:
    """A new random archive password, e.g. ``K7M2Q-XW9TB-4HJNC-PRS8V-EFGUY-3ZDA6-MNQWT-B2C9K``."""
    return SEPARATOR.join(
        "".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)
    )
