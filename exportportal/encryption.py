"""Secrets at rest (source credentials, archive passwords): Fernet with a key ring.

FIELD_ENCRYPTION_KEYS is a comma-separated list of Fernet keys, newest first. New values are
encrypted with the first; any listed key decrypts. To rotate: put a new key first, keep the old
ones after it, run ``manage.py rotate_encryption_keys``, then drop the old keys.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class DecryptionError(Exception):
    """A stored secret no configured key can open (a key was dropped too early)."""


@lru_cache(maxsize=4)
def _keyring(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def keyring() -> MultiFernet:
    return _keyring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def development_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY, for development only (production sets its own)."""
    digest = hashlib.sha256(b"export-portal-field-encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def encrypt(plaintext: str) -> str:
    return keyring().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret could not be decrypted with the configured keys."
        ) from None


class EncryptedTextField(models.TextField):
    """Stores text encrypted; reads give the plain text. Never use it in filters or ordering."""

    def from_db_value(self, value, expression, connection):
        return value if value in (None, "") else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value in (None, "") else encrypt(value)

    def deconstruct(self):
        # Migrations see the column as it is stored (text), so they import no portal code.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs
