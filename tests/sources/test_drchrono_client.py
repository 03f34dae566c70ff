"""The DrChrono client against the loopback fake: paging, OAuth, backoff, budget, files."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from exports.sources.drchrono.budget import HourlyRequestBudget, RequestBudgetExhausted
from exports.sources.drchrono.client import (
    ClientSettings,
    DrChronoClient,
    OAuthTokens,
    Page,
)
from exports.sources.drchrono.files import RemoteFile
from exports.sources.records import RecordUnavailable, SourceError, TransientSourceError
from tests.fakes.drchrono_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEVER_EXPIRES,
    FakeClock,
    FakeDrChrono,
    MemoryTokenStore,
    jpeg_bytes,
    pdf_bytes,
)


@pytest.fixture
def fake() -> Iterator[FakeDrChrono]:
    with FakeDrChrono() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    fake_server: FakeDrChrono | None,
    clock: FakeClock,
    *,
    store: MemoryTokenStore | None = None,
    per_hour: int = 500,
    max_wait: float = 300.0,
    transport: httpx.BaseTransport | None = None,
) -> DrChronoClient:
    """A client holding the store's tokens as they are now."""
    base_url = fake_server.base_url if fake_server else "http://drchrono.invalid"
    settings = ClientSettings(
        base_url=base_url,
        token_url=f"{base_url}/o/token/",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    if store is None:
        tokens = fake_server.tokens() if fake_server else OAuthTokens("a", "r", NEVER_EXPIRES)
        store = MemoryTokenStore(tokens)
    return DrChronoClient(
        settings,
        store.tokens,
        token_store=store,
        budget=HourlyRequestBudget(per_hour, clock=clock, max_wait=max_wait),
        clock=clock,
        rng=random.Random(7),
        transport=transport,
    )


def add_medications(fake: FakeDrChrono, how_many: int) -> list[int]:
    ids = [50_000 + n for n in range(how_many)]
    fake.practice.objects("medications")[:] = [
        {"id": i, "patient": 1, "doctor": 101, "name": "Aspirin"} for i in ids
    ]
    return ids


# -- Paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["results", "data"])
def test_it_follows_next_across_pages_in_either_envelope(envelope, clock):
    with FakeDrChrono(envelope=envelope) as fake:
        ids = add_medications(fake, 600)
        client = make_client(fake, clock)

        pages = list(client.iter_pages("/api/medications"))

    assert [len(page.items) for page in pages] == [250, 250, 100]
    assert [item["id"] for page in pages for item in page.items] == ids
    requests = fake.api_requests("/api/medications")
    assert requests[0].query["page_size"] == "250"
    assert all("cursor" in request.query for request in requests[1:])


def test_a_page_of_the_wrong_shape_is_a_clear_error_naming_the_endpoint():
    with pytest.raises(SourceError, match="/api/medications returned a page without results"):
        Page.parse({"items": []}, "/api/medications")
    with pytest.raises(SourceError, match="/api/medications returned a list, not a page"):
        Page.parse([], "/api/medications")


def test_malformed_json_is_retried(fake, clock):
    fake.malformed_json("/api/doctors", times=2)

    body = make_client(fake, clock).get_json("/api/doctors")

    assert body["results"][0]["id"] == 101
    assert len(clock.sleeps) == 2


def test_malformed_json_that_persists_fails_naming_the_endpoint(fake, clock):
    fake.malformed_json("/api/doctors", times=99)

    with pytest.raises(SourceError, match="DrChrono /api/doctors returned malformed JSON"):
        make_client(fake, clock).get_json("/api/doctors")


# -- OAuth ----------------------------------------------------------------------------------


def test_it_refreshes_the_token_before_it_expires_and_stores_the_new_pair(fake, clock):
    soon = datetime.fromtimestamp(clock.time() + 60, tz=UTC)
    store = MemoryTokenStore(fake.tokens(expires_at=soon))

    make_client(fake, clock, store=store).get_json("/api/doctors")

    assert [r.path for r in fake.requests] == ["/o/token/", "/api/doctors"]
    (renewed,) = store.renewed
    assert renewed.access_token == fake.access_token
    assert renewed.refresh_token == fake.refresh_token
    assert renewed.expires_at == datetime.fromtimestamp(clock.time() + fake.expires_in, tz=UTC)


def test_it_refreshes_once_on_a_401_and_carries_on(fake, clock):
    store = MemoryTokenStore(fake.tokens())
    client = make_client(fake, clock, store=store)
    fake.expire_access_token()

    client.get_json("/api/doctors")

    assert [r.path for r in fake.requests] == ["/api/doctors", "/o/token/", "/api/doctors"]
    assert [t.access_token for t in store.renewed] == [fake.access_token]


def test_clients_sharing_expiring_tokens_renew_them_once_and_all_carry_on(fake, clock):
    soon = datetime.fromtimestamp(clock.time() + 60, tz=UTC)
    store = MemoryTokenStore(fake.tokens(expires_at=soon))
    workers = [make_client(fake, clock, store=store) for _ in range(3)]
    all_at_once = threading.Barrier(len(workers))

    def read_doctors(client: DrChronoClient) -> list[dict]:
        all_at_once.wait()
        return client.get_json("/api/doctors")["results"]

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        answers = list(pool.map(read_doctors, workers))

    assert all(answer == answers[0] != [] for answer in answers)
    assert fake.token_renewals() == 1
    assert store.tokens.refresh_token == fake.refresh_token


def test_a_client_whose_tokens_another_renewed_takes_the_new_ones_after_a_401(fake, clock):
    store = MemoryTokenStore(fake.tokens())
    first, second = make_client(fake, clock, store=store), make_client(fake, clock, store=store)
    fake.expire_access_token()
    first.get_json("/api/doctors")  # renews: the pair both clients loaded is retired

    second.get_json("/api/doctors")

    assert fake.token_renewals() == 1
    assert [r.path for r in fake.requests][-2:] == ["/api/doctors", "/api/doctors"]


def test_a_refused_refresh_asks_for_reconnection_without_naming_the_tokens(fake, clock):
    client = make_client(fake, clock)
    stale_refresh = fake.refresh_token
    fake.refresh_token = "rotated-elsewhere"
    fake.expire_access_token()

    with pytest.raises(SourceError, match="must reconnect") as raised:
        client.get_json("/api/doctors")

    assert stale_refresh not in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value)


def renew_at_fake(fake: FakeDrChrono, refresh_token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    return httpx.post(fake.token_url, data=form)


def test_the_fake_rotates_the_refresh_token_and_refuses_a_used_one(fake):
    used_access, used_refresh = fake.access_token, fake.refresh_token

    renewed = renew_at_fake(fake, used_refresh)
    again = renew_at_fake(fake, used_refresh)

    assert renewed.json()["refresh_token"] == fake.refresh_token != used_refresh
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
    old_pair = httpx.get(
        f"{fake.base_url}/api/doctors", headers={"Authorization": f"Bearer {used_access}"}
    )
    assert old_pair.status_code == 401


def test_tokens_do_not_show_in_their_repr():
    tokens = OAuthTokens("secret-access", "secret-refresh", NEVER_EXPIRES)
    assert "secret" not in repr(tokens)


# -- Backoff --------------------------------------------------------------------------------


def test_429_with_retry_after_waits_as_told(fake, clock):
    fake.fail("/api/doctors", 429, times=2, retry_after="7")

    make_client(fake, clock).get_json("/api/doctors")

    assert clock.sleeps == [7.0, 7.0]


def test_429_without_retry_after_backs_off_exponentially(fake, clock):
    fake.fail("/api/doctors", 429, times=3)

    make_client(fake, clock).get_json("/api/doctors")

    first, second, third = clock.sleeps
    assert 0.5 <= first <= 1 < second <= 2 < third <= 4


def test_a_throttle_longer_than_we_wait_is_transient(fake, clock):
    fake.fail("/api/doctors", 429, retry_after="3600")

    with pytest.raises(TransientSourceError, match="throttled /api/doctors"):
        make_client(fake, clock).get_json("/api/doctors")
    assert clock.sleeps == []


def test_server_errors_are_retried(fake, clock):
    fake.fail("/api/doctors", 503, times=2)

    assert make_client(fake, clock).get_json("/api/doctors")["results"]
    assert len(clock.sleeps) == 2


def test_server_errors_that_persist_fail_clearly_after_bounded_attempts(fake, clock):
    fake.fail("/api/doctors", 500, times=99)

    with pytest.raises(TransientSourceError) as raised:
        make_client(fake, clock).get_json("/api/doctors")

    assert str(raised.value) == "DrChrono /api/doctors failed with HTTP 500 after 5 attempts"
    assert len(fake.api_requests("/api/doctors")) == 5


def test_timeouts_are_retried(clock):
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"results": [], "next": None})

    client = make_client(None, clock, transport=httpx.MockTransport(answer))

    assert client.get_json("/api/doctors") == {"results": [], "next": None}
    assert len(calls) == 3
    assert len(clock.sleeps) == 2


def test_a_forbidden_endpoint_is_not_retried(fake, clock):
    fake.fail("/api/doctors", 403)

    with pytest.raises(SourceError, match=r"refused the request \(HTTP 403\)"):
        make_client(fake, clock).get_json("/api/doctors")
    assert len(fake.api_requests()) == 1


# -- Budget ---------------------------------------------------------------------------------


def test_the_hourly_budget_refuses_when_spent_and_the_next_hour_is_far(fake, clock):
    clock.now = 3600 * 500_000 + 60  # one minute past the hour
    client = make_client(fake, clock, per_hour=3, max_wait=300)
    for _ in range(3):
        client.get_json("/api/doctors")

    with pytest.raises(RequestBudgetExhausted) as raised:
        client.get_json("/api/doctors")

    assert raised.value.retry_after == 3540
    assert len(fake.api_requests()) == 3


def test_the_hourly_budget_waits_for_the_top_of_the_hour_when_it_is_near(fake, clock):
    clock.now = 3600 * 500_000 + 3500  # 100 s before the hour
    client = make_client(fake, clock, per_hour=2, max_wait=300)
    for _ in range(4):
        client.get_json("/api/doctors")

    assert clock.sleeps == [100.0]  # then a fresh hour of budget
    assert len(fake.api_requests()) == 4


def test_the_budget_counts_retries_too(fake, clock):
    clock.now = 3600 * 500_000 + 60
    fake.fail("/api/doctors", 500, times=2)
    client = make_client(fake, clock, per_hour=3)
    client.get_json("/api/doctors")  # two failures, then an answer: three requests

    with pytest.raises(RequestBudgetExhausted):
        client.get_json("/api/doctors")
    assert len(fake.api_requests()) == 3


# -- Files ----------------------------------------------------------------------------------


def remote_file(fake, clock, path, extension="pdf", **options) -> RemoteFile:
    return RemoteFile(
        make_client(fake, clock),
        fake.url(path),
        label="documents 42",
        extension=extension,
        **options,
    )


def test_a_file_streams_in_chunks_with_its_exact_bytes(fake, clock):
    content = pdf_bytes("A document") * 40  # several chunks
    path = fake.practice.add_file("big.pdf", content, "application/pdf")

    blob = remote_file(fake, clock, path)

    assert b"".join(blob.chunks()) == content
    assert blob.size == len(content)


@pytest.mark.parametrize("supports_range", [True, False])
def test_a_download_cut_short_resumes_without_repeating_a_byte(supports_range, clock):
    with FakeDrChrono(supports_range=supports_range) as fake:
        content = pdf_bytes("A document") * 40
        path = fake.practice.add_file("cut.pdf", content, "application/pdf")
        fake.truncate(path, times=1)

        assert b"".join(remote_file(fake, clock, path).chunks()) == content
        ranges = [r for r in fake.requests if r.path == path]
        assert len(ranges) == 2


def test_a_download_cut_short_every_time_is_unavailable_naming_the_record(fake, clock):
    path = fake.practice.add_file("patient-jane-doe.pdf", pdf_bytes("x") * 40, "application/pdf")
    fake.truncate(path, times=99)

    with pytest.raises(RecordUnavailable) as raised:
        b"".join(remote_file(fake, clock, path).chunks())

    assert str(raised.value) == "documents 42 file download was cut short 3 times"
    assert "jane" not in str(raised.value)


def test_a_file_that_is_not_what_it_claims_is_unavailable(fake, clock):
    path = fake.practice.add_file("scan.pdf", jpeg_bytes(1), "application/pdf")

    with pytest.raises(RecordUnavailable, match="documents 42 file is not a pdf file"):
        list(remote_file(fake, clock, path).chunks())


def test_a_web_page_instead_of_a_file_is_unavailable(fake, clock):
    path = fake.practice.add_file("login.pdf", b"<html>Sign in</html>", "text/html")

    with pytest.raises(RecordUnavailable, match="web page instead of the file"):
        list(remote_file(fake, clock, path).chunks())


def test_a_file_over_the_size_limit_is_unavailable(fake, clock):
    path = fake.practice.add_file("huge.jpg", jpeg_bytes(3), "image/jpeg")

    with pytest.raises(RecordUnavailable, match="larger than the size limit"):
        list(remote_file(fake, clock, path, extension="jpg", max_bytes=100).chunks())


def test_a_missing_file_is_unavailable(fake, clock):
    with pytest.raises(RecordUnavailable, match="HTTP 404"):
        list(remote_file(fake, clock, "/media/gone.pdf").chunks())
