"""``export_practice --source fhir-bulk``: the command's options for a FHIR Bulk Data export,
kept here so the command itself only gains a line or two."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from ..records import SourceError
from .connection import fhir_bulk_options, fhir_bulk_settings
from .local import FhirBulkSourceSpec, load_key_ring


def add_fhir_bulk_arguments(parser: CommandParser) -> None:
    group = parser.add_argument_group(
        "FHIR Bulk Data source (options, else the environment variables FHIR_BASE_URL and "
        "FHIR_CLIENT_ID; the key file is made by `manage.py fhir_bulk_keys create`, and its "
        "JWKS registered with the EHR under the client id)"
    )
    group.add_argument("--fhir-base-url", default=os.environ.get("FHIR_BASE_URL", ""))
    group.add_argument("--fhir-client-id", default=os.environ.get("FHIR_CLIENT_ID", ""))
    group.add_argument("--fhir-key-file", type=Path, help="the portal's key ring (sealed)")
    group.add_argument("--fhir-group-id", default="", help="export this Group (default: system)")
    group.add_argument("--fhir-since", default="", help="only resources changed since (instant)")


def fhir_bulk_spec(options: dict[str, object]) -> tuple[FhirBulkSourceSpec, str]:
    missing = [
        option
        for option in ("fhir_base_url", "fhir_client_id", "fhir_key_file", "practice_name")
        if not options[option]
    ]
    if missing:
        names = ", ".join("--" + option.replace("_", "-") for option in missing)
        raise CommandError(f"--source fhir-bulk needs {names}")
    try:
        ring = load_key_ring(Path(str(options["fhir_key_file"])))
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    settings = fhir_bulk_settings(
        fhir_bulk_options(
            base_url=str(options["fhir_base_url"]),
            client_id=str(options["fhir_client_id"]),
            group_id=str(options["fhir_group_id"]),
            since=str(options["fhir_since"]),
        )
    )
    return FhirBulkSourceSpec(settings=settings, key=ring.current), str(options["practice_name"])
