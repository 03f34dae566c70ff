"""Transient trouble in packaging or delivery is retried by Celery until it passes; when it
never passes, the retries run out and the request fails with a message the data team reads.

The tasks run eagerly here (``apply``): Celery runs each retry at once, in this process."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from celery import Task
from django.conf import settings
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from exports import pipeline, stages, tasks
from exports.delivery.base import TransientDeliveryError
from exports.delivery.local import LocalFolderBackend
from exports.models import ExportJob, Stage
from exports.pipeline import leases
from exports.sources.records import SourceAsksToWait, TransientSourceError
from requests_app.models import ExportRequest, Status
from tests.factories import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

BOX_DOWN = TransientDeliveryError("EXP-000001 part 1 of 1: the delivery service answered 503")
SOURCE_THROTTLED = TransientSourceError("DrChrono /api/patients throttled the export (HTTP 429)")


@dataclass(frozen=True)
class FlakyStage:
    job_fixture: str  # a job ready for the stage
    owner: object  # owner.name is what fails
    name: str
    error: Exception
    task: Task
    stage: str
    status_when_done: str


PACKAGING = FlakyStage(
    "extracted_job", stages, "run_package", SOURCE_THROTTLED, tasks.package_export,
    Stage.PACKAGING, Status.AWAITING_REVIEW,
)  # fmt: skip
DELIVERY = FlakyStage(
    "approved_job", LocalFolderBackend, "deliver", BOX_DOWN, tasks.deliver_export,
    Stage.UPLOADING, Status.DELIVERED,
)  # fmt: skip
each_stage = pytest.mark.parametrize("flaky", [PACKAGING, DELIVERY], ids=["package", "deliver"])


def status_of(export_request) -> str:
    return ExportRequest.objects.values_list("status", flat=True).get(pk=export_request.pk)


@each_stage
def test_a_stage_that_fails_once_is_retried_and_finishes(flaky, request, outage):
    export_request, _, job = request.getfixturevalue(flaky.job_fixture)
    attempts = outage(flaky.owner, flaky.name, flaky.error, times=1)

    flaky.task.apply((job.pk,))

    assert len(attempts) == 2
    assert status_of(export_request) == flaky.status_when_done


@each_stage
def test_a_stage_that_keeps_failing_runs_out_of_retries_and_fails_the_request(
    flaky, request, outage
):
    export_request, _, job = request.getfixturevalue(flaky.job_fixture)
    attempts = outage(flaky.owner, flaky.name, flaky.error, times=10_000)

    flaky.task.apply((job.pk,))

    assert len(attempts) == 1 + settings.EXPORT_TASK_MAX_RETRIES
    assert status_of(export_request) == Status.FAILED
    job.refresh_from_db()
    assert (job.stage, job.failed_stage) == (Stage.FAILED, flaky.stage)
    assert job.error == str(flaky.error)
    assert export_request.events.get(action="pipeline.failed").note == str(flaky.error)


def test_a_stage_whose_lease_cannot_be_released_still_reports_its_own_error(approved_job, outage):
    """The database hiccups while the failed stage gives its lease back: the stage's error is
    what Celery sees (and retries on), and the lease is left to go stale for the sweeper."""
    _, _, job = approved_job
    outage(LocalFolderBackend, "deliver", BOX_DOWN, times=1)
    outage(leases, "release_stage", OperationalError("database is locked"), times=1)

    with pytest.raises(TransientDeliveryError):
        pipeline.job_deliver(job.pk)
    assert ExportJob.objects.get(pk=job.pk).heartbeat_at is not None


SOURCE_ALLOWANCE_SPENT = SourceAsksToWait(
    "DrChrono request budget for this hour is spent; retry in 1800 s", retry_after=1800
)


def test_a_source_that_asks_to_wait_is_waited_for_as_often_as_it_asks(extracted_job, outage):
    """DrChrono's hourly allowance is spent more often than a stage has retries: each time the
    stage waits as long as the source says, and never fails for it."""
    export_request, _, job = extracted_job
    waits = 3 * settings.EXPORT_TASK_MAX_RETRIES
    attempts = outage(stages, "run_package", SOURCE_ALLOWANCE_SPENT, times=waits)
    countdowns = []
    retry = tasks.package_export.retry

    def recorded_retry(*args, countdown=None, **kwargs):
        countdowns.append(countdown)
        return retry(*args, countdown=countdown, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.package_export, "retry", recorded_retry)
        tasks.package_export.apply((job.pk,))

    assert len(attempts) == waits + 1
    assert countdowns == [1800] * waits
    assert status_of(export_request) == Status.AWAITING_REVIEW


def test_while_the_source_asks_to_wait_the_sweeper_leaves_the_job_and_the_page_says_so(
    client, started_job, settings, monkeypatch
):
    export_request, member, job = started_job
    batch_ids = pipeline.job_plan(job.pk)
    sent = []
    monkeypatch.setattr("exports.tasks.extract_patients.delay", sent.append)
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False) as clock:
        # An hour into the run, every batch is waiting for the source's next hour.
        pipeline.source_asks_to_wait(job.pk, seconds=1800)

        assert pipeline.sweep_stale_work() == pipeline.SweepReport()
        sign_in(client, member)
        page = client.get(reverse("requests_app:detail", args=[export_request.pk]))
        assert "Waiting for the source" in page.content.decode()

        clock.shift(timedelta(seconds=1800 + settings.EXPORT_STALE_SECONDS + 1))
        assert pipeline.sweep_stale_work().batches_requeued == len(batch_ids)
        assert sorted(sent) == sorted(batch_ids)
