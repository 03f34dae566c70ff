"""Workers sharing a request's DrChrono connection, as extraction batches do: the tokens are
renewed once, by one of them, and the stored tokens are never replaced by older ones."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django import db
from django.utils import timezone

from exports import connections
from exports.models import SourceConnection
from exports.sources.base import ConnectionReport
from exports.sources.drchrono import OAuthTokens
from exports.sources.registry import StoredDrChronoTokens, open_source
from requests_app.models import Status
from tests.factories import data_member, export_request
from tests.fakes.drchrono_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEVER_EXPIRES,
    FakeDrChrono,
)

pytestmark = pytest.mark.django_db

NEWER = OAuthTokens("access-newer", "refresh-newer", NEVER_EXPIRES)


@pytest.fixture
def fake(settings) -> Iterator[FakeDrChrono]:
    with FakeDrChrono() as server:
        settings.DRCHRONO_API_BASE_URL = server.base_url
        settings.DRCHRONO_TOKEN_URL = server.token_url
        settings.DRCHRONO_BACKOFF_MS = 1
        yield server


def connect(fake: FakeDrChrono, *, expires_at=NEVER_EXPIRES) -> SourceConnection:
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    return connections.source_connect_drchrono(
        export_request_id=request.pk, actor=member, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET, access_token=fake.access_token,
        refresh_token=fake.refresh_token, expires_at=expires_at,
    )  # fmt: skip


def stored_secrets(connection: SourceConnection) -> dict[str, str]:
    return json.loads(SourceConnection.objects.get(pk=connection.pk).credentials)


def never_called(tokens: OAuthTokens) -> OAuthTokens:
    raise AssertionError("DrChrono was asked to renew tokens another worker had renewed")


def test_a_renewal_with_tokens_another_worker_renewed_takes_the_stored_ones_without_drchrono(
    fake,
):
    connection = connect(fake)
    held = fake.tokens()  # what both workers loaded
    assert StoredDrChronoTokens(connection.pk).renew(held, lambda tokens: NEWER) == NEWER

    slower_worker = StoredDrChronoTokens(connection.pk).renew(held, never_called)

    assert slower_worker == NEWER
    secrets = stored_secrets(connection)
    assert (secrets["access_token"], secrets["refresh_token"]) == ("access-newer", "refresh-newer")
    assert secrets["client_secret"] == CLIENT_SECRET


def test_a_renewal_is_stored_encrypted(fake):
    connection = connect(fake)

    StoredDrChronoTokens(connection.pk).renew(fake.tokens(), lambda tokens: NEWER)

    with db.connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM exports_sourceconnection")
        [(at_rest,)] = cursor.fetchall()
    assert "newer" not in at_rest
    assert stored_secrets(connection)["refresh_token"] == "refresh-newer"


def test_a_refused_renewal_leaves_the_stored_tokens_as_they_were(fake):
    connection = connect(fake)
    before = stored_secrets(connection)

    def refused(tokens: OAuthTokens) -> OAuthTokens:
        raise RuntimeError("DrChrono said no")

    with pytest.raises(RuntimeError):
        StoredDrChronoTokens(connection.pk).renew(fake.tokens(), refused)

    assert stored_secrets(connection) == before


@pytest.mark.django_db(transaction=True)  # each worker thread commits on its own connection
@pytest.mark.parametrize("tokens_run_out", ["expiring", "revoked early"])
def test_workers_reading_one_connection_at_once_renew_once_and_all_read_on(
    fake, tmp_path, tokens_run_out
):
    if tokens_run_out == "expiring":
        # inside the client's renewal margin: every worker renews before its first request
        connection = connect(fake, expires_at=timezone.now() + timedelta(seconds=60))
    else:  # every worker's first request is refused with a 401
        connection = connect(fake)
        fake.expire_access_token()
    workers = 3
    all_at_once = threading.Barrier(workers)

    def worker(number: int) -> ConnectionReport:
        """A batch task: loads the connection, opens its own source, reads."""
        try:
            stored = SourceConnection.objects.get(pk=connection.pk)
            with open_source(stored, spool_dir=tmp_path / str(number)) as source:
                all_at_once.wait()
                return source.test_connection()
        finally:
            db.connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(worker, range(workers)))

    assert [report.detail for report in reports] == ["DrChrono answered"] * workers
    assert fake.token_renewals() == 1
    assert stored_secrets(connection)["refresh_token"] == fake.refresh_token
