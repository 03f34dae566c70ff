"""What the portal's workers share when they read DrChrono at once, as extraction batches do:
a connection's tokens, renewed once by one of them and never replaced by older ones, and an
API application's hourly request budget, counted once for all of them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django import db
from django.utils import timezone

from exports import connections
from exports.models import DrChronoRequestHour, SourceConnection
from exports.sources.base import ConnectionReport
from exports.sources.drchrono import HourlyRequestBudget, OAuthTokens, RequestBudgetExhausted
from exports.sources.registry import DatabaseHourCounter, StoredDrChronoTokens, open_source
from requests_app.models import Status
from tests.factories import data_member, export_request
from tests.fakes.drchrono_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEVER_EXPIRES,
    FakeClock,
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


# -- The hourly request budget --------------------------------------------------------------

HOUR = 3600 * 500_000  # the top of some hour


def shared_budget(
    clock: FakeClock, per_hour: int, *, client_id: str = CLIENT_ID, max_wait: float = 300
) -> HourlyRequestBudget:
    """What one worker's source spends from."""
    counter = DatabaseHourCounter(client_id)
    return HourlyRequestBudget(per_hour, clock=clock, max_wait=max_wait, counter=counter)


def spendable(budget: HourlyRequestBudget) -> bool:
    try:
        budget.spend()
    except RequestBudgetExhausted:
        return False
    return True


def test_the_budgets_of_workers_for_one_application_share_its_hourly_limit():
    clock = FakeClock(HOUR + 60)
    first, second = shared_budget(clock, 3), shared_budget(clock, 3)

    spent = [spendable(budget) for budget in (first, second, first, second, first)]

    assert spent == [True, True, True, False, False]


def test_another_application_has_an_hourly_limit_of_its_own():
    clock = FakeClock(HOUR + 60)
    shared_budget(clock, 1).spend()

    assert spendable(shared_budget(clock, 1, client_id="another-application"))
    assert not spendable(shared_budget(clock, 1))


def test_the_next_hour_starts_a_fresh_count_and_the_last_one_is_let_go():
    clock = FakeClock(HOUR + 60)
    budget = shared_budget(clock, 2)
    budget.spend()
    budget.spend()

    clock.now = HOUR + 3600 + 1

    assert [spendable(budget), spendable(budget), spendable(budget)] == [True, True, False]
    assert DrChronoRequestHour.objects.get().hour_start.timestamp() == HOUR + 3600


def test_a_spent_hour_far_from_its_end_is_refused_saying_when_to_retry():
    clock = FakeClock(HOUR + 60)
    shared_budget(clock, 1).spend()

    with pytest.raises(RequestBudgetExhausted) as raised:
        shared_budget(clock, 1, max_wait=300).spend()

    assert raised.value.retry_after == 3540
    assert clock.sleeps == []


def test_a_spent_hour_near_its_end_is_waited_out():
    clock = FakeClock(HOUR + 3500)
    shared_budget(clock, 1).spend()

    shared_budget(clock, 1, max_wait=300).spend()

    assert clock.sleeps == [100.0]


@pytest.mark.django_db(transaction=True)  # each worker thread commits on its own connection
def test_workers_spending_at_once_never_count_past_the_limit():
    limit, workers = 30, 4
    all_at_once = threading.Barrier(workers)

    def spend_all_it_can(_: int) -> int:
        budget = shared_budget(FakeClock(HOUR + 60), limit, max_wait=0)
        try:
            all_at_once.wait()
            spent = 0
            while spendable(budget):
                spent += 1
            return spent
        finally:
            db.connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        spent = list(pool.map(spend_all_it_can, range(workers)))

    assert sum(spent) == limit
    assert DrChronoRequestHour.objects.get().spent == limit


def test_sources_the_portal_opens_spend_from_their_applications_shared_count(fake, tmp_path):
    connection = connect(fake)

    for worker in range(2):
        with open_source(connection, spool_dir=tmp_path / str(worker)) as source:
            source.test_connection()

    counted = DrChronoRequestHour.objects.get(client_id=CLIENT_ID)
    assert counted.spent == len(fake.api_requests()) > 0


def test_a_portal_worker_never_sleeps_through_a_spent_hour(fake, settings):
    settings.DRCHRONO_REQUESTS_PER_HOUR = 2
    connection = connect(fake)

    with open_source(connection, spool_dir=Path(settings.EXPORT_STAGING_DIR) / "spool") as source:
        budget = source._client._budget
        started = time.monotonic()
        with pytest.raises(RequestBudgetExhausted):
            source.prepare()

    assert budget.max_wait == 0
    assert time.monotonic() - started < 30
