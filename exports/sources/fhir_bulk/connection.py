"""A request's stored FHIR Bulk connection: non-secret settings in ``options``. The key it
signs with is the portal's (``exports.smart_keys``): one JWKS URL for every EHR."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from .keys import SigningKey
from .source import FhirBulkSettings, FhirBulkSource

#: the connection options the source reads; base_url and client_id are required
OPTION_NAMES = ("base_url", "client_id", "group_id", "since")


def fhir_bulk_options(
    *, base_url: str, client_id: str, group_id: str = "", since: str = ""
) -> dict[str, str]:
    return {"base_url": base_url, "client_id": client_id, "group_id": group_id, "since": since}


def fhir_instant(moment: datetime) -> str:
    """A FHIR ``instant`` in UTC, to the second (what ``_since`` takes)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_limits() -> dict[str, float]:
    """The deployment's limits on waiting for the EHR (``FHIR_BULK_*_SECONDS``)."""
    return {
        "max_inline_wait": float(django_settings.FHIR_BULK_MAX_WAIT_SECONDS),
        "patience": float(django_settings.FHIR_BULK_TOTAL_WAIT_SECONDS),
        "default_poll": float(django_settings.FHIR_BULK_POLL_SECONDS),
    }


def fhir_bulk_settings(options: dict[str, Any]) -> FhirBulkSettings:
    named = {name: str(options.get(name, "")) for name in OPTION_NAMES}
    return FhirBulkSettings(**named, **wait_limits())


def open_fhir_bulk(options: dict[str, Any], key: SigningKey, *, spool_dir: Path) -> FhirBulkSource:
    return FhirBulkSource.connect(fhir_bulk_settings(options), key, spool_dir)
