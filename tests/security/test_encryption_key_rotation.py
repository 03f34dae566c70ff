"""Rotating FIELD_ENCRYPTION_KEYS as the README says: put a new key first, run
``rotate_encryption_keys``, then drop the old key. No stored secret is lost on the way."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from exportportal.encryption import DecryptionError, EncryptedTextField
from exports import connections, smart_keys
from exports.models import ExportJob, SmartKeyRing, SourceConnection
from requests_app.models import Status
from tests import factories

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
CLIENT_SECRET = "drc-client-secret-7f3a9c"
ARCHIVE_PASSWORD = "archive-password-c41d"
SHARED_LINK_PASSWORD = "shared-link-password-9e2b"


def encrypted_fields() -> set[tuple[type, str]]:
    return {
        (model, field.attname)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    }


def stored(model: type, pk: int, attname: str) -> str:
    """The column as the database holds it: the ciphertext."""
    table, column = model._meta.db_table, model._meta.get_field(attname).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {connection.ops.quote_name(table)} "
            "WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def opens_with(key: str, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def plant_secrets() -> dict[tuple[type, str, int], str]:
    """One secret in every encrypted field: a DrChrono connection and a job's passwords."""
    member = factories.data_member()
    request = factories.export_request(status=Status.CLAIMED, claimed_by=member)
    source = connections.source_connect_drchrono(
        export_request_id=request.pk, actor=member, client_id="client-id",
        client_secret=CLIENT_SECRET, access_token="access-token-1", refresh_token="refresh-1",
        expires_at=datetime(2100, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    job = ExportJob.objects.create(
        request=request,
        attempt=1,
        staging_dir="/nowhere",
        export_date=timezone.localdate(),
        archive_password=ARCHIVE_PASSWORD,
        shared_link_password=SHARED_LINK_PASSWORD,
    )
    smart_keys.signing_keys_create(actor=factories.admin())
    ring = SmartKeyRing.objects.get()
    planted = {
        (SourceConnection, "credentials", source.pk): source.credentials,
        (SmartKeyRing, "key_ring", ring.pk): ring.key_ring,
        (ExportJob, "archive_password", job.pk): ARCHIVE_PASSWORD,
        (ExportJob, "shared_link_password", job.pk): SHARED_LINK_PASSWORD,
    }
    # A new encrypted field must be planted here too, or rotation goes untested for it.
    assert {(model, name) for model, name, _ in planted} == encrypted_fields()
    return planted


def read(model: type, attname: str, pk: int) -> str:
    return getattr(model.objects.get(pk=pk), attname)


def test_secrets_survive_a_key_rotation_from_start_to_finish(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    planted = plant_secrets()

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    for (model, name, pk), secret in planted.items():
        assert read(model, name, pk) == secret, "written under the old key, still readable"
        assert opens_with(OLD_KEY, stored(model, pk, name))

    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted" in out.getvalue()
    for model, name, pk in planted:
        ciphertext = stored(model, pk, name)
        assert opens_with(NEW_KEY, ciphertext) and not opens_with(OLD_KEY, ciphertext)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    for (model, name, pk), secret in planted.items():
        assert read(model, name, pk) == secret


def test_dropping_the_old_key_before_rotating_is_refused_loudly(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    planted = plant_secrets()

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    for model, name, pk in planted:
        with pytest.raises(DecryptionError, match="could not be decrypted"):
            read(model, name, pk)
