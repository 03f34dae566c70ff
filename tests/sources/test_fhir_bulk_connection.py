"""A request's FHIR Bulk connection opens the source; the key ring's command line."""

from __future__ import annotations

import json
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as database

from exports import smart_keys
from exports.models import SourceConnection, SourceKind
from exports.sources.fhir_bulk import FhirBulkSource
from exports.sources.fhir_bulk.connection import fhir_bulk_options, fhir_bulk_settings
from exports.sources.fhir_bulk.keys import ES384, RS384
from exports.sources.fhir_bulk.local import load_key_ring
from exports.sources.registry import open_source
from tests import factories
from tests.fakes.fhir_bulk_practice import FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer


@pytest.mark.django_db
def test_a_request_connected_to_a_fhir_server_opens_the_bulk_source_with_the_portal_key(
    tmp_path,
):
    ring = smart_keys.signing_keys_create(actor=factories.admin(), algorithm=ES384)
    practice = FhirPractice()
    practice.add({"resourceType": "Patient", "id": "p1"})
    with FakeBulkServer(practice, ring.jwks()) as server:
        stored = SourceConnection.objects.create(
            request=factories.export_request(),
            kind=SourceKind.FHIR_BULK,
            options=fhir_bulk_options(
                base_url=server.base_url, client_id=CLIENT_ID, group_id=GROUP_ID
            ),
        )
        connection = SourceConnection.objects.get(pk=stored.pk)

        with open_source(connection, spool_dir=tmp_path) as source:
            report = source.test_connection()

    assert isinstance(source, FhirBulkSource)
    assert report.ok and report.patient_count == 1
    with database.cursor() as cursor:
        cursor.execute("SELECT key_ring FROM exports_smartkeyring")
        (raw,) = cursor.fetchone()
    assert "PRIVATE KEY" not in raw  # encrypted at rest


def test_the_wait_limits_come_from_the_deployment_settings(settings):
    settings.FHIR_BULK_MAX_WAIT_SECONDS = 30
    settings.FHIR_BULK_TOTAL_WAIT_SECONDS = 600
    settings.FHIR_BULK_POLL_SECONDS = 5

    chosen = fhir_bulk_settings(fhir_bulk_options(base_url="https://ehr.example", client_id="c"))

    assert (chosen.max_inline_wait, chosen.patience, chosen.default_poll) == (30, 600, 5)


def keys(*args: str) -> dict:
    out = StringIO()
    call_command("fhir_bulk_keys", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_key_command_creates_rotates_and_publishes_the_key_ring(tmp_path):
    path = tmp_path / "keys.json"

    created = keys("create", f"--key-file={path}", f"--algorithm={RS384}")
    rotated = keys("rotate", f"--key-file={path}")
    published = keys("jwks", f"--key-file={path}")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in path.read_text()
    (first,) = created["keys"]
    assert [key["kid"] for key in rotated["keys"]][1:] == [first["kid"]]
    assert published == rotated == load_key_ring(path).jwks()
    assert {key["alg"] for key in published["keys"]} == {RS384}


def test_the_key_command_never_overwrites_a_key_file(tmp_path):
    path = tmp_path / "keys.json"
    keys("create", f"--key-file={path}")
    before = path.read_text()

    with pytest.raises(CommandError, match="already exists"):
        keys("create", f"--key-file={path}")

    assert path.read_text() == before


def test_a_key_file_that_cannot_be_read_is_named_not_shown(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("not json")

    with pytest.raises(CommandError, match=r"the key file cannot be read \(JSONDecodeError\)"):
        keys("jwks", f"--key-file={path}")
