"""The archive password: a passphrase of common words, read out by phone, typed into 7-Zip.

Seven words drawn with ``secrets`` from the EFF large diceware list (as shipped by the
``xkcdpass`` package), joined by "-", e.g. ``rumble-oxidize-pastel-sugar-garnet-tiara-cupcake``.
The few list words that carry a hyphen themselves are left out, so the words can always be
told apart: 7,772 words, 12.92 bits each, 90.5 bits in all. WinZip AES stretches the password
with only 1,000 PBKDF2 rounds, so the password itself carries the strength; the design asks
for at least 90 bits. Lower-case ASCII letters and hyphens: every zip tool accepts it, and Box
accepts it as a shared-link password (eight or more characters, not letters only).

The password is a secret: never log it, never put it in an exception or a task argument.
"""

from __future__ import annotations

import math
import secrets
from functools import cache

from xkcdpass import xkcd_password

WORD_COUNT = 7
SEPARATOR = "-"


@cache
def word_list() -> tuple[str, ...]:
    """The EFF large diceware list, without the words that hold a hyphen, in a stable order."""
    words = xkcd_password.generate_wordlist(
        wordfile=xkcd_password.locate_wordfile("eff-long"), min_length=1, max_length=99
    )
    return tuple(sorted(word for word in set(words) if word.isalpha() and word.isascii()))


def entropy_bits() -> float:
    """Bits of entropy in one generated password (90.5 with the list and count above)."""
    return WORD_COUNT * math.log2(len(word_list()))


def generate_archive_password() -> str:
    """A new random passphrase, e.g. ``rumble-oxidize-pastel-sugar-garnet-tiara-cupcake``."""
    words = word_list()
    return SEPARATOR.join(secrets.choice(words) for _ in range(WORD_COUNT))


def password_words(password: str) -> list[str]:
    """The password's words, to show them grouped; a password of another shape stays whole."""
    return password.split(SEPARATOR) if SEPARATOR in password else [password]
