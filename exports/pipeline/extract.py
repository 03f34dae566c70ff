"""The extraction stage: cut the practice into batches, extract each on any worker, and move the
job on to packaging when the last batch is done.

A source that fetches each patient's own C-CDA against an allowance
(``fetches_ccda_per_patient``) gets a second set of batches, the C-CDA pass over the same
patients: claimable only once every records batch is done, sent by the last of them, so a
spent allowance holds up nothing but the C-CDAs; packaging waits for both."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from django.db import transaction

from exports import stages
from exports.models import BatchStatus, ExportJob, ExtractBatch, Stage
from exports.pipeline import clock, dispatch
from exports.pipeline.leases import (
    BatchProgress,
    PipelineStopped,
    batch_claim,
    ends_cleanly_if_stopped,
    extracting_batches,
    job_of,
    job_of_batch,
    locked_job,
    release_batch,
)
from exports.pipeline.staging import export_context, load_job, make_private_dir, source_for
from requests_app import services as request_services

logger = logging.getLogger(__name__)


@ends_cleanly_if_stopped(job_of, dropped=[])
def job_plan(job_id: int) -> list[int]:
    """Cut the practice into batches (once per job) and return the batches still to do."""
    job = load_job(job_id)
    if job.stage != Stage.EXTRACTING:
        return []
    if not job.batches.exists():
        make_private_dir(Path(job.staging_dir))
        with source_for(job) as source:
            source.prepare()
            planned = [
                ExtractBatch(job=job, number=number, patient_ids=ids)
                for number, ids in enumerate(stages.plan_batches(source, job.batch_size), start=1)
            ]
            patient_count = sum(len(batch.patient_ids) for batch in planned)
            if source.fetches_ccda_per_patient:  # the same patients, numbered after them
                records = len(planned)
                planned += [
                    ExtractBatch(
                        job=job, number=records + batch.number, patient_ids=batch.patient_ids,
                        ccdas=True,
                    )
                    for batch in planned
                ]  # fmt: skip
        with transaction.atomic():
            locked = ExportJob.objects.select_for_update().get(pk=job_id)
            if not locked.batches.exists():  # another planner may have won the race
                ExtractBatch.objects.bulk_create(planned, batch_size=200)
                locked.patient_count = patient_count
                locked.save(update_fields=["patient_count"])
        logger.info("job %s planned: %d batches", job_id, len(planned))
    undone = job.batches.exclude(status=BatchStatus.DONE)
    records = undone.filter(ccdas=False)
    return list((records if records.exists() else undone).values_list("pk", flat=True))


def queue_batches(job_id: int, batch_ids: Iterable[int]) -> None:
    sent = 0
    for batch_id in batch_ids:
        dispatch.send(dispatch.EXTRACT_PATIENTS, batch_id)
        sent += 1
    if not sent:
        maybe_start_packaging(job_id)


@ends_cleanly_if_stopped(job_of_batch, dropped=False)
def batch_run(batch_id: int, *, worker: str) -> bool:
    """Extract one batch if it can be claimed. Returns whether it ran."""
    if not batch_claim(batch_id, worker=worker):
        logger.info("batch %s not claimable (done, running elsewhere or job stopped)", batch_id)
        return False
    batch = ExtractBatch.objects.select_related("job").get(pk=batch_id)
    job = load_job(batch.job_id)
    progress = BatchProgress(batch, worker)
    try:
        with source_for(job) as source:
            result = stages.run_batch(
                source,
                export_context(job),
                progress.ids(batch.patient_ids),
                Path(job.staging_dir),
                batch.number,
                ccdas=batch.ccdas,
            )
        finished = (
            extracting_batches()
            .filter(pk=batch_id, worker=worker, status=BatchStatus.RUNNING)
            .update(
                status=BatchStatus.DONE,
                patients_done=len(batch.patient_ids),
                files=result.files,
                bytes=result.bytes,
                records_failed=result.records_failed,
                heartbeat_at=clock.now(),
                finished_at=clock.now(),
            )
        )
    except PipelineStopped:
        logger.info("batch %s dropped: its job stopped", batch_id)
        return False
    except Exception as exc:
        release_batch(batch_id, worker=worker, error=exc)
        raise
    if finished:
        maybe_start_packaging(job.pk, records_batch=not batch.ccdas)
    return bool(finished)


def maybe_start_packaging(job_id: int, *, records_batch: bool = False) -> bool:
    """The last batch to finish moves the job on; the row locks make that exactly one. The
    last records batch (``records_batch``) of a job with a C-CDA pass sends that pass."""
    with transaction.atomic():
        job = locked_job(job_id)
        if job.stage != Stage.EXTRACTING:
            return False
        undone = job.batches.exclude(status=BatchStatus.DONE)
        if undone.exists():
            if records_batch and not undone.filter(ccdas=False).exists():
                for batch_id in undone.values_list("pk", flat=True):
                    dispatch.send_on_commit(dispatch.EXTRACT_PATIENTS, batch_id)
            return False
        if job.patient_count is None:  # not planned yet
            return False
        job.extracted_at, job.heartbeat_at = clock.now(), None
        job.save(update_fields=["extracted_at", "heartbeat_at"])
        request_services.export_request_finish_extraction(
            export_request_id=job.request_id,
            patients=job.patient_count,
            batches=job.batches.count(),
        )
        dispatch.send_on_commit(dispatch.PACKAGE_EXPORT, job_id)
    return True
