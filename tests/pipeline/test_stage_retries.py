"""Transient trouble in packaging or delivery is retried by Celery until it passes; when it
never passes, the retries run out and the request fails with a message the data team reads.

The tasks run eagerly here (``apply``): Celery runs each retry at once, in this process."""

from dataclasses import dataclass

import pytest
from celery import Task
from django.conf import settings
from django.db import OperationalError

from exports import pipeline, stages, tasks
from exports.delivery.base import TransientDeliveryError
from exports.delivery.local import LocalFolderBackend
from exports.models import ExportJob, Stage
from exports.sources.records import TransientSourceError
from requests_app.models import ExportRequest, Status

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
    outage(pipeline, "_release_stage", OperationalError("database is locked"), times=1)

    with pytest.raises(TransientDeliveryError):
        pipeline.job_deliver(job.pk)
    assert ExportJob.objects.get(pk=job.pk).heartbeat_at is not None
