"""Celery entry points for the pipeline. Thin: take ids, call ``exports.pipeline`` (which sends
these tasks by name, ``exports.pipeline.dispatch``, and so never imports this module)."""

from __future__ import annotations

import errno
import logging

from billiard.exceptions import WorkerLostError
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from exports import lifecycle, pipeline
from exports.archive import ArchiveError
from exports.delivery.base import DeliveryError, TransientDeliveryError
from exports.heartbeat import worker_heartbeat_record
from exports.models import ExtractBatch
from exports.packaging.errors import PackagingError
from exports.sources.records import SourceAsksToWait, SourceError, TransientSourceError

logger = logging.getLogger(__name__)

TRANSIENT = (TransientSourceError, TransientDeliveryError, OperationalError, InterfaceError)
# Their messages are written to be shown: they name stages, ids and counts, never PHI.
EXPLAINED = (SourceError, DeliveryError, PackagingError, ArchiveError)


def failure_message(exc: BaseException) -> str:
    """What the data team reads on the request page. Never the exception's raw text unless
    its type promises to carry no PHI."""
    if getattr(exc, "errno", None) == errno.ENOSPC:  # an OSError, or an ArchiveError from one
        return "The staging disk is full. Free space (or grow the volume), then retry."
    if isinstance(exc, EXPLAINED):
        return str(exc)
    if isinstance(exc, SoftTimeLimitExceeded):
        return "The stage took longer than its time limit (CELERY_TASK_SOFT_TIME_LIMIT)."
    if isinstance(exc, OSError):
        code = errno.errorcode.get(exc.errno, exc.errno)
        return f"A file operation failed ({code}); see the worker log."
    if isinstance(exc, TRANSIENT):
        return f"Still failing after retries: {type(exc).__name__}; see the worker log."
    return f"Unexpected error: {type(exc).__name__}; see the worker log."


class PipelineTask(Task):
    """Retries transient trouble with backoff; a permanent error, or retries run out, fails
    the job visibly. A killed worker is not a failure: its work is picked up again."""

    abstract = True
    autoretry_for = TRANSIENT
    # A source that asks to wait is not failing: the task waits as long as it says, as often
    # as it says, without spending its retries (see __call__).
    dont_autoretry_for = (SourceAsksToWait,)
    retry_backoff = settings.EXPORT_TASK_RETRY_BACKOFF_SECONDS
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = settings.EXPORT_TASK_MAX_RETRIES
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def job_id(self, object_id: int) -> int:
        return object_id

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except SourceAsksToWait as exc:
            pipeline.source_asks_to_wait(self.job_id(args[0]), seconds=exc.retry_after)
            raise self.retry(
                exc=exc, countdown=exc.retry_after, max_retries=self.request.retries + 1
            ) from exc

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, WorkerLostError):
            return
        if isinstance(exc, ObjectDoesNotExist):
            # A message about a job that is gone (discarded with its request's data): nothing to do.
            logger.warning("task %s: no such object %s", self.name, args[0])
            return
        logger.error(
            "task %s failed for id %s: %s", self.name, args[0], type(exc).__name__, exc_info=exc
        )
        pipeline.pipeline_fail(self.job_id(args[0]), message=failure_message(exc))


class BatchTask(PipelineTask):
    abstract = True

    def job_id(self, object_id: int) -> int:
        return ExtractBatch.objects.values_list("job_id", flat=True).get(pk=object_id)


@shared_task(base=PipelineTask, name="exports.plan_extraction")
def plan_extraction(job_id: int) -> None:
    pipeline.queue_batches(job_id, pipeline.job_plan(job_id))


@shared_task(base=BatchTask, bind=True, name="exports.extract_patients")
def extract_patients(self, batch_id: int) -> None:
    pipeline.batch_run(batch_id, worker=self.request.hostname or "unknown")


@shared_task(base=PipelineTask, bind=True, name="exports.package_export")
def package_export(self, job_id: int) -> None:
    pipeline.job_package(job_id, worker=self.request.hostname or "unknown")


@shared_task(base=PipelineTask, bind=True, name="exports.deliver_export")
def deliver_export(self, job_id: int) -> None:
    pipeline.job_deliver(job_id, worker=self.request.hostname or "unknown")


@shared_task(name="exports.sweep_pipeline", ignore_result=True)
def sweep_pipeline() -> None:
    pipeline.sweep_stale_work()


@shared_task(bind=True, name="exports.worker_heartbeat", ignore_result=True)
def worker_heartbeat(self) -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "unknown")


# -- after delivery: reminders, the end of access, proven deletion -------------------------------


class DeletionTask(PipelineTask):
    """Retries transient trouble (Box throttling or failing) like the pipeline's tasks. When
    retries run out, or the error is permanent, the failure is recorded on the request and the
    admins are emailed; the request stays delivered and the next scheduled pass tries again."""

    abstract = True

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, WorkerLostError):
            return
        logger.error(
            "task %s failed for request %s: %s", self.name, args[0], type(exc).__name__,
            exc_info=exc,
        )  # fmt: skip
        lifecycle.deletion_failed(args[0], message=failure_message(exc))


@shared_task(name="exports.run_delivery_lifecycle", ignore_result=True)
def run_delivery_lifecycle() -> None:
    """The scheduled pass: expiry reminders, then a deletion task per request due."""
    lifecycle.run_delivery_lifecycle(timezone.now())


@shared_task(base=DeletionTask, name="exports.delete_delivery")
def delete_delivery(export_request_id: int) -> None:
    lifecycle.delete_delivery(export_request_id)
