"""``manage.py fhir_bulk_keys``: the key ring a local FHIR Bulk export signs with.

``create`` makes a key file (owner-only; private keys encrypted with FIELD_ENCRYPTION_KEYS),
``rotate`` adds a new current key and keeps the previous ones published, ``jwks`` prints the
public keys to register with the EHR under the portal's client id.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from exports.sources.fhir_bulk.keys import ALGORITHMS, ES384, KeyRing
from exports.sources.fhir_bulk.local import load_key_ring, save_key_ring
from exports.sources.records import SourceError


class Command(BaseCommand):
    help = "Create or rotate the FHIR Bulk Data signing keys, or print their public JWKS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("create", "rotate", "jwks"))
        parser.add_argument("--key-file", required=True, type=Path)
        parser.add_argument("--algorithm", choices=ALGORITHMS, default=None)

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["key_file"]
        action = options["action"]
        if action == "create":
            if path.exists():
                raise CommandError("the key file already exists: refusing to overwrite it")
            ring = KeyRing.create(options["algorithm"] or ES384, now=timezone.now())
            save_key_ring(path, ring)
        else:
            try:
                ring = load_key_ring(path)
            except SourceError as exc:
                raise CommandError(str(exc)) from None
            if action == "rotate":
                ring = ring.rotate(now=timezone.now(), algorithm=options["algorithm"])
                save_key_ring(path, ring)
        self.stdout.write(json.dumps(ring.jwks(), indent=2))
