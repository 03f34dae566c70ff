"""DrChrono within its hourly allowance: what counts, bulk lists, one download per file, token
renewal near expiry, refused lists, against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exports.sources.drchrono import DrChronoSource, HourlyRequestBudget
from exports.sources.drchrono import source as source_module
from exports.sources.drchrono.budget import FileHourCounter, RequestBudgetExhausted
from exports.sources.drchrono.client import DrChronoClient
from exports.sources.drchrono.files import RemoteFile
from exports.sources.records import (
    Category,
    LabSource,
    SourceAsksToWait,
    SourceError,
    TransientSourceError,
)
from tests.fakes.drchrono_server import (
    FakeClock,
    FakeDrChrono,
    MemoryTokenStore,
)


class TickingClock(FakeClock):
    """Time that also moves a second each time it is read: calls take time."""

    def time(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeDrChrono]:
    with FakeDrChrono(counts=True) as server:
        yield server


def open_source(
    fake: FakeDrChrono,
    spool_dir: Path,
    *,
    per_hour: int = 500,
    clock: FakeClock | None = None,
    store: MemoryTokenStore | None = None,
    include_source_ccda: bool = False,
) -> DrChronoSource:
    clock = clock or FakeClock()
    store = store or MemoryTokenStore(fake.tokens())
    return DrChronoSource.connect(
        fake.client_settings(),
        store.tokens,
        token_store=store,
        budget=HourlyRequestBudget(per_hour, clock=clock, max_wait=0),
        spool_dir=spool_dir,
        clock=clock,
        include_source_ccda=include_source_ccda,
    )


def download_every_file(source: DrChronoSource) -> int:
    files = 0
    for record in source.read_patients(source.patient_ids()):
        blobs = [d.file for d in record.documents]
        blobs += [n.pdf for n in record.clinical_notes]
        blobs += [r.report for r in record.lab_results]
        blobs.append(record.ccda)
        for blob in filter(None, blobs):
            b"".join(blob.chunks())
            files += 1
    return files


def share_one_lab_report(fake: FakeDrChrono) -> None:
    """Patient 1's lab order gets a second result pointing at the same report."""
    (first,) = [r for r in fake.practice.objects("lab_results") if r["lab_order"] == "1801"]
    fake.practice.objects("lab_results").append({**first, "id": first["id"] + 1})


# -- What counts --------------------------------------------------------------------------


def test_file_downloads_from_signed_urls_do_not_spend_the_hourly_allowance(fake, tmp_path):
    with open_source(fake, tmp_path) as source:
        source.prepare()
        api_calls = len(fake.api_requests())
        # Exactly what prepare spent: every file must still download within the hour.
        source._client._budget.per_hour = api_calls

        files = download_every_file(source)

        assert files > api_calls
        assert source.usage.api_total == api_calls
        assert source.usage.file_downloads == len(fake.file_requests()) == files
    assert all(r.query.get("Signature") for r in fake.file_requests())


def test_api_calls_are_counted_by_endpoint(fake, tmp_path):
    with open_source(fake, tmp_path) as source:
        source.prepare()
        usage = source.usage

    assert usage.api_calls["POST /api/patients_list"] == 1
    assert usage.api_calls["GET /api/patients_list"] == 1
    assert usage.api_calls["GET /api/medications"] == 1
    assert usage.api_total == len(fake.api_requests())


def test_the_allowance_refuses_an_api_call_past_it(fake, tmp_path):
    with (
        open_source(fake, tmp_path, per_hour=3) as source,
        pytest.raises(RequestBudgetExhausted),
    ):
        source.prepare()
    assert len(fake.api_requests()) == 3


def test_a_file_several_records_point_to_is_downloaded_once(fake, tmp_path):
    share_one_lab_report(fake)
    with open_source(fake, tmp_path) as source:
        (alice,) = list(source.read_patients(["1"]))
        reports = [r.report for r in alice.lab_results if r.source is not LabSource.MANUAL]
        assert len(reports) == 2
        contents = {b"".join(report.chunks()) for report in reports}

    assert len(contents) == 1
    assert len(fake.file_requests("/media/lab_documents/2001.pdf")) == 1


def test_a_source_ccda_already_fetched_is_not_asked_for_again(fake, tmp_path):
    for _ in range(2):  # a second run on the same spool, as a resumed export
        with open_source(fake, tmp_path, include_source_ccda=True) as source:
            (alice,) = list(source.read_patients(["1"]))
            assert b"ClinicalDocument" in b"".join(alice.ccda.chunks())

    assert len(fake.api_requests("/api/patients/1/ccda")) == 1


# -- Fewer calls --------------------------------------------------------------------------


def test_patients_and_appointments_come_from_the_bulk_lists_at_a_thousand_a_page(fake, tmp_path):
    with open_source(fake, tmp_path) as source:
        source.prepare()
        patients = list(source.patient_ids())

    assert patients == ["1", "2", "3", "4", "5"]
    (created,) = [
        r for r in fake.requests if r.path == "/api/appointments_list" and r.method == "POST"
    ]
    assert created.query["page_size"] == "1000"
    assert created.query["verbose"] == "true"
    assert not fake.api_requests("/api/patients")
    assert not fake.api_requests("/api/appointments")


def test_a_bulk_page_still_in_progress_is_polled_again(tmp_path):
    with FakeDrChrono(bulk_polls_in_progress=2) as fake, open_source(fake, tmp_path) as source:
        source.prepare()
        assert len(list(source.patient_ids())) == 5
        polls = [r for r in fake.api_requests("/api/patients_list") if r.method == "GET"]
    assert len(polls) == 3


def test_a_refused_bulk_list_falls_back_to_the_paged_list_at_its_largest_page(fake, tmp_path):
    fake.refuse("/api/patients_list", 403)
    with open_source(fake, tmp_path) as source:
        source.prepare()
        assert len(list(source.patient_ids())) == 5

    (paged,) = fake.api_requests("/api/patients")
    assert paged.query["page_size"] == "250"


def test_a_bulk_list_that_keeps_failing_gives_way_to_the_paged_list(fake, tmp_path):
    fake.fail("/api/patients_list", 500, times=10_000)
    with open_source(fake, tmp_path) as source:
        source.prepare()
        assert len(list(source.patient_ids())) == 5

    assert len(fake.api_requests("/api/patients")) == 1


def test_every_list_is_read_practice_wide_never_per_patient(fake, tmp_path):
    with open_source(fake, tmp_path) as source:
        source.prepare()
        list(source.read_patients(source.patient_ids()))

    assert not [r for r in fake.api_requests() if "patient" in r.query]
    assert not [r for r in fake.api_requests() if r.path.startswith("/api/patients/")]


def test_a_bulk_walk_interrupted_resumes_at_its_next_page(fake, tmp_path, monkeypatch):
    appointment = fake.practice.objects("appointments")[0]
    fake.practice.objects("appointments").extend(
        {**appointment, "id": str(90_000 + n)} for n in range(1500)
    )
    whole = source_module.iter_bulk_pages

    def cut_after_the_first_page(*args, **kwargs):
        pages = whole(*args, **kwargs)
        yield next(pages)
        raise RequestBudgetExhausted(retry_after=600)  # the hour is spent: the run stops

    monkeypatch.setattr(source_module, "iter_bulk_pages", cut_after_the_first_page)
    with open_source(fake, tmp_path) as source, pytest.raises(RequestBudgetExhausted):
        source.prepare()  # patients read whole, appointments cut after page 1
    monkeypatch.setattr(source_module, "iter_bulk_pages", whole)
    with open_source(fake, tmp_path) as source:
        source.prepare()
        spooled = source._spool.count("appointments") + source._spool.count("appointment_breaks")

    created = [
        r.query["page"]
        for r in fake.requests
        if r.path == "/api/appointments_list" and r.method == "POST"
    ]
    assert created == ["1", "2"]
    assert spooled == len(fake.practice.objects("appointments"))


# -- Token renewal ------------------------------------------------------------------------


def test_a_short_lived_token_is_renewed_when_about_to_expire_not_before_every_call(tmp_path):
    clock = TickingClock()
    with FakeDrChrono(expires_in=30) as fake:
        expires = datetime.fromtimestamp(clock.now + 30, tz=UTC)
        store = MemoryTokenStore(fake.tokens(expires_at=expires))
        with open_source(fake, tmp_path, clock=clock, store=store) as source:
            source.prepare()
            calls = len(fake.api_requests())

    assert calls > 15
    assert 1 <= fake.token_renewals() <= calls / 5


# -- Refused lists ------------------------------------------------------------------------


def test_a_refused_auxiliary_list_is_noted_and_the_export_goes_on(fake, tmp_path):
    fake.refuse("/api/sublabs", 404)
    with open_source(fake, tmp_path) as source:
        records = list(source.read_patients(source.patient_ids()))
        notes = source.notes()
        counts = source.counts_in_source()

    assert notes == [
        "Lab vendor names are unavailable: results of electronic lab orders are filed as "
        "Integration Lab Results, Quest and LabCorp ones included (DrChrono refused "
        "/api/sublabs: HTTP 404)"
    ]
    integration = [r for record in records for r in record.lab_results if r.is_integration]
    assert len(integration) == counts[Category.INTEGRATION_LAB_RESULTS] == 2


def test_a_refused_list_of_patient_data_stops_the_export_naming_the_list(fake, tmp_path):
    fake.refuse("/api/medications", 403)
    with (
        open_source(fake, tmp_path) as source,
        pytest.raises(SourceError, match=r"refused the list /api/medications .*HTTP 403"),
    ):
        source.prepare()


def test_list_sizes_cost_one_call_each(fake, tmp_path):
    fake.refuse("/api/sublabs", 403)
    with open_source(fake, tmp_path) as source:
        sizes = source.list_sizes()

    assert sizes["patients"] == 5
    assert sizes["sublabs"] is None
    assert sizes["medications"] == len(fake.practice.objects("medications"))
    assert len(fake.api_requests()) == len(sizes)


# -- One retry layer ------------------------------------------------------------------------


def test_a_throttle_longer_than_a_short_retry_pauses_the_work_instead_of_sleeping(fake, tmp_path):
    fake.fail("/api/doctors", 429, retry_after="60")
    clock = FakeClock()
    with (
        open_source(fake, tmp_path, clock=clock) as source,
        pytest.raises(SourceAsksToWait) as asked,
    ):
        source.prepare()

    assert asked.value.retry_after == 60
    assert clock.sleeps == []


def test_transient_failures_are_retried_a_bounded_number_of_times_with_short_waits(fake, tmp_path):
    fake.fail("/api/doctors", 503, times=99)
    clock = FakeClock()
    with open_source(fake, tmp_path, clock=clock) as source, pytest.raises(TransientSourceError):
        source.prepare()

    assert len(fake.api_requests("/api/doctors")) == 5
    assert sum(clock.sleeps) <= 30


# -- Throttles and counters -----------------------------------------------------------------


def test_file_downloads_keep_to_their_own_throttle(fake, tmp_path):
    clock = FakeClock()
    store = MemoryTokenStore(fake.tokens())
    client = DrChronoClient(
        fake.client_settings(file_downloads_per_second=4),
        store.tokens,
        token_store=store,
        budget=HourlyRequestBudget(clock=clock),
        clock=clock,
    )
    url = fake.url("/media/documents/1301.pdf")

    for _ in range(3):
        b"".join(RemoteFile(client, url, label="documents 1301", extension="pdf").chunks())
    client.close()

    assert clock.sleeps == [0.25, 0.25]
    assert client.usage.file_downloads == 3
    assert client.usage.api_total == 0


def test_a_local_exports_hour_count_survives_the_process_in_its_work_folder(tmp_path):
    clock = FakeClock()
    path = tmp_path / "calls-this-hour.json"
    first = HourlyRequestBudget(3, clock=clock, max_wait=0, counter=FileHourCounter(path))
    for _ in range(2):
        first.spend()

    again = HourlyRequestBudget(3, clock=clock, max_wait=0, counter=FileHourCounter(path))
    again.spend()
    with pytest.raises(RequestBudgetExhausted):
        again.spend()
