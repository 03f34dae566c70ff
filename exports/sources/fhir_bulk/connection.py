"""A request's stored FHIR Bulk connection: non-secret settings in ``options``, the key ring
(each private key encrypted again under the portal's field keys) in ``credentials``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .keys import KeyRing
from .source import FhirBulkSettings, FhirBulkSource

#: the connection options the source reads; base_url and client_id are required
OPTION_NAMES = ("base_url", "client_id", "group_id", "since")


def fhir_bulk_options(
    *, base_url: str, client_id: str, group_id: str = "", since: str = ""
) -> dict[str, str]:
    return {"base_url": base_url, "client_id": client_id, "group_id": group_id, "since": since}


def fhir_bulk_credentials(ring: KeyRing) -> str:
    return json.dumps({"key_ring": ring.sealed()})


def key_ring_of(credentials: str) -> KeyRing:
    return KeyRing.unsealed(json.loads(credentials)["key_ring"])


def open_fhir_bulk(options: dict[str, Any], credentials: str, *, spool_dir: Path) -> FhirBulkSource:
    settings = FhirBulkSettings(**{name: str(options.get(name, "")) for name in OPTION_NAMES})
    return FhirBulkSource.connect(settings, key_ring_of(credentials).current, spool_dir)
