"""The export pipeline over Celery: extract in parallel batches, package, review, deliver.

The database is the source of truth: the request's status says where the run is, the job
(one attempt) holds its leases and progress. Every unit of work is claimed before it runs,
writes its progress and a heartbeat as it goes, and records its end (``leases``). Files are
written under temporary names and renamed, so a unit that runs twice produces its files once.
``docs/architecture.md`` maps the modules and the one-way arrows between them.

These are the entry points ``exports.tasks``, ``exports.services`` and other apps call.
"""

from exports.pipeline.commands import (
    pipeline_approve,
    pipeline_reject,
    pipeline_retry,
    pipeline_start,
    pipeline_stop,
)
from exports.pipeline.deliver import StoredPart, job_deliver
from exports.pipeline.extract import batch_run, job_plan, maybe_start_packaging, queue_batches
from exports.pipeline.failure import pipeline_fail
from exports.pipeline.leases import PipelineStopped, batch_claim, stale_after
from exports.pipeline.package import job_package
from exports.pipeline.staging import export_context, make_private_dir, remove_staging
from exports.pipeline.sweeper import SweepReport, source_asks_to_wait, sweep_stale_work

__all__ = [
    "PipelineStopped",
    "StoredPart",
    "SweepReport",
    "batch_claim",
    "batch_run",
    "export_context",
    "job_deliver",
    "job_package",
    "job_plan",
    "make_private_dir",
    "maybe_start_packaging",
    "pipeline_approve",
    "pipeline_fail",
    "pipeline_reject",
    "pipeline_retry",
    "pipeline_start",
    "pipeline_stop",
    "queue_batches",
    "remove_staging",
    "source_asks_to_wait",
    "stale_after",
    "sweep_stale_work",
]
