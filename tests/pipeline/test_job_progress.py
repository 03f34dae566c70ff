"""What the request page shows while extraction runs: counts, who runs what, rate, time left."""

from datetime import timedelta

import pytest
from django.utils import timezone

from exports.models import BatchStatus, ExtractBatch
from exports.progress import RunningBatch, job_progress
from tests.factories import export_job

pytestmark = pytest.mark.django_db

NOW = timezone.now()
STALE_AFTER = timedelta(minutes=5)


def minutes_ago(minutes: float):
    return NOW - timedelta(minutes=minutes)


def batch(job, number: int, status: str = BatchStatus.RUNNING, **fields) -> None:
    ExtractBatch.objects.filter(job=job, number=number).update(status=status, **fields)


def done(job, number: int, *, started: float, **fields) -> None:
    batch(job, number, BatchStatus.DONE, patients_done=4, started_at=minutes_ago(started), **fields)


def progress_of(job):
    job.refresh_from_db()
    return job_progress(job, NOW, stale_after=STALE_AFTER)


def test_counts_patients_batches_bytes_and_failures_and_shows_who_runs_what():
    job = export_job(patients=12)
    done(job, 1, started=3, bytes=5000, records_failed=2)
    batch(job, 2, patients_done=3, worker="worker-b", started_at=minutes_ago(2),
          heartbeat_at=minutes_ago(0.1))  # fmt: skip
    batch(job, 3, patients_done=1, worker="worker-c", started_at=minutes_ago(9),
          heartbeat_at=minutes_ago(8))  # fmt: skip

    progress = progress_of(job)

    assert (progress.patients_done, progress.patients_total, progress.percent) == (8, 12, 66)
    assert (progress.batches_done, progress.batches_total) == (1, 3)
    assert (progress.bytes_written, progress.records_failed) == (5000, 2)
    assert progress.running == (
        RunningBatch(number=2, worker="worker-b", patients_done=3, patients_total=4, stale=False),
        RunningBatch(number=3, worker="worker-c", patients_done=1, patients_total=4, stale=True),
    )


def test_rate_and_time_left_count_from_the_first_batch_not_from_a_long_planning():
    job = export_job(patients=12, created_at=minutes_ago(60), run_started_at=minutes_ago(60))
    done(job, 1, started=2)
    batch(job, 2, patients_done=2, started_at=minutes_ago(1))

    progress = progress_of(job)

    assert progress.rate_per_minute == pytest.approx(3.0)  # 6 patients in the 2 minutes since
    assert progress.seconds_left == 120  # 6 patients to go at 3 a minute


def test_after_a_retry_rate_and_time_left_count_only_the_work_of_this_run():
    job = export_job(patients=12, created_at=minutes_ago(120), run_started_at=minutes_ago(2))
    done(job, 1, started=110)  # extracted before the failure
    done(job, 2, started=105)
    batch(job, 3, patients_done=2, started_at=minutes_ago(1))  # resumed after the retry

    progress = progress_of(job)

    assert progress.patients_done == 10
    assert progress.rate_per_minute == pytest.approx(2.0)  # 2 patients in the minute since
    assert progress.seconds_left == 60  # 2 patients to go at 2 a minute


def test_no_rate_or_time_left_before_a_patient_is_done_in_this_run():
    job = export_job(patients=12, run_started_at=minutes_ago(2))
    done(job, 1, started=30)
    batch(job, 2, patients_done=0, started_at=minutes_ago(1))

    progress = progress_of(job)

    assert (progress.rate_per_minute, progress.seconds_left) == (None, None)
