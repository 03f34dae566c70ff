"""Packaging and delivery run as one long task each. While they work they keep their heartbeat
fresh, so the sweeper never takes them for dead and sends the stage to a second worker (which
would write into the same staging folder).

The pipeline's clock is moved by the test: every step of work "takes" a second, and the
sweeper looks for stale work after each step."""

import builtins
import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from exports import pipeline, tasks
from exports.delivery import local
from exports.pipeline import clock as pipeline_clock
from requests_app.models import ExportRequest, Status

pytestmark = pytest.mark.django_db(transaction=True)
# The module, not the function of the same name that exports.packaging re-exports.
package_step = importlib.import_module("exports.packaging.package")

STALE_SECONDS = 10


class PipelineClock:
    def __init__(self) -> None:
        self.started = self.now = timezone.now()

    def __call__(self):
        return self.now

    def step(self) -> None:
        self.now += timedelta(seconds=1)
        pipeline.sweep_stale_work()

    @property
    def seconds_elapsed(self) -> float:
        return (self.now - self.started).total_seconds()


@pytest.fixture
def clock(settings, monkeypatch):
    settings.EXPORT_STALE_SECONDS = STALE_SECONDS
    clock = PipelineClock()
    monkeypatch.setattr(pipeline_clock, "now", clock)
    return clock


@pytest.fixture
def sent_again(monkeypatch):
    """The packaging and delivery tasks the sweeper sends (request it after the job)."""
    sent = []
    monkeypatch.setattr(tasks.package_export, "delay", sent.append)
    monkeypatch.setattr(tasks.deliver_export, "delay", sent.append)
    return sent


class SlowReads:
    """A file on a slow disk: every read takes a step of the clock."""

    def __init__(self, stream, clock: PipelineClock) -> None:
        self.stream, self.clock = stream, clock

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stream.close()

    def read(self, size: int = -1) -> bytes:
        self.clock.step()
        return self.stream.read(size)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def status_of(export_request) -> str:
    return ExportRequest.objects.values_list("status", flat=True).get(pk=export_request.pk)


def test_packaging_that_outlasts_the_stale_window_is_not_sent_again(
    extracted_job, clock, sent_again, monkeypatch
):
    export_request, _, job = extracted_job
    batch_rows = package_step.batch_rows

    def slow_rows(*args):
        for row in batch_rows(*args):
            clock.step()
            yield row

    monkeypatch.setattr(package_step, "batch_rows", slow_rows)

    assert pipeline.job_package(job.pk)

    assert clock.seconds_elapsed > 10 * STALE_SECONDS
    assert sent_again == []
    assert status_of(export_request) == Status.AWAITING_REVIEW


def test_delivery_of_a_part_that_takes_long_to_copy_is_not_sent_again(
    approved_job, clock, sent_again, monkeypatch
):
    export_request, _, job = approved_job
    monkeypatch.setattr(local, "_COPY_BUFFER", 16 * 1024)

    def open_on_slow_disk(*args, **kwargs):
        return SlowReads(builtins.open(*args, **kwargs), clock)

    monkeypatch.setattr(local, "open", open_on_slow_disk, raising=False)

    assert pipeline.job_deliver(job.pk)

    assert clock.seconds_elapsed > 4 * STALE_SECONDS
    assert sent_again == []
    assert status_of(export_request) == Status.DELIVERED
