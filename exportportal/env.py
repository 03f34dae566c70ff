"""Typed reads of the environment. A bad value stops start-up with an error naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _bad(name: str, value: str, expected: str) -> ImproperlyConfigured:
    # The value itself is left out: it may be a secret.
    return ImproperlyConfigured(
        f"Environment variable {name} must be {expected} (got {len(value)} characters)."
    )


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def env_required_str(name: str, *, min_length: int = 1) -> str:
    value = _raw(name)
    if value is None or len(value) < min_length:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be set (at least {min_length} characters)."
        )
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _bad(name, value, "a boolean (true/false, 1/0, yes/no, on/off)")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(name, value, "a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            raise _bad(name, value, f"a whole number of at least {minimum}")
        if minimum is None:
            raise _bad(name, value, f"a whole number of at most {maximum}")
        raise _bad(name, value, f"a whole number from {minimum} to {maximum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise _bad(name, value, "one of " + ", ".join(choices))
    return value


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    return default if not value else Path(value).expanduser().resolve()


DATABASE_SCHEMES = ("postgres", "postgresql", "pgsql", "sqlite")


def env_database(name: str, default: str) -> dict:
    """A Django DATABASES entry from a URL: PostgreSQL in production, SQLite embedded."""
    value = _raw(name) or default
    scheme = value.partition("://")[0]
    if scheme not in DATABASE_SCHEMES:
        raise _bad(name, value, "a postgres:// or sqlite:/// database URL")
    try:
        return environ.Env.db_url_config(value)
    except Exception:
        raise _bad(
            name, value, "a database URL such as postgres://user:pass@host:5432/name"
        ) from None


def env_url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _raw(name) or default
    scheme, sep, _ = value.partition("://")
    if not sep or scheme not in schemes:
        raise _bad(name, value, "a URL with scheme " + " or ".join(f"{s}://" for s in schemes))
    return value


def env_email_config(name: str, default: str) -> dict:
    value = _raw(name) or default
    try:
        return environ.Env.email_url_config(value)
    except Exception:
        raise _bad(
            name, value, "an email URL such as smtp+tls://user:pass@host:587 or consolemail://"
        ) from None


def env_fernet_keys(name: str, *, required: bool = False) -> list[str]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each), newest first."""
    from cryptography.fernet import Fernet

    keys = env_list(name, [])
    if required and not keys:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be set: one or more Fernet keys, newest first "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise _bad(
                name, key, "comma-separated Fernet keys (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def env_secret_list(name: str, *, min_length: int, required: bool = False) -> list[str]:
    """Comma-separated secrets (each at least ``min_length`` characters), newest first."""
    secrets = env_list(name, [])
    if required and not secrets:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be set: one or more secrets of at least "
            f"{min_length} characters, newest first (make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(48))')."
        )
    for secret in secrets:
        if len(secret) < min_length:
            raise _bad(name, secret, f"comma-separated secrets of at least {min_length} characters")
    return secrets
