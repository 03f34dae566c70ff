"""Test-only hooks inside worker processes, each off unless its environment variable is set:

``PROBE_PUBLISHED_MESSAGES_FILE``
    every task message the worker publishes (batches, packaging, retries: work the test
    process never sends) is appended to this file as it goes to the broker, one JSON object a
    line: the task's name, the message headers and the body.
``PROBE_CUT_DATABASE_MARKER``
    once, after a batch has written its files and before it records that, the worker's
    database connection is cut, and this file is created to say so. On PostgreSQL the server
    terminates the worker's backend (pg_terminate_backend); SQLite has no server to lose, so
    the next query fails with the OperationalError a vanished database file gives.
``PROBE_HOLD_MID_BATCH_MARKER``
    the worker's second batch stops for good after writing its first patients, and this file
    is created to say so: the worker stands inside a batch, ready to be killed there.
``PROBE_FILL_DISK_BEFORE_ARCHIVE``
    a file on the staging disk; once, as packaging starts writing the archive, it is made to
    take all but a little of the disk's free space (another tenant filling the volume), so the
    archive runs out of room part-way. ``<file>.placed`` says it was done.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from celery.signals import before_task_publish
from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections

ROOM_LEFT_ON_A_FILLED_DISK = 64 * 1024


class ProbesConfig(AppConfig):
    name = "tests.integration.probes"
    label = "test_probes"

    def ready(self) -> None:
        if messages_file := os.environ.get("PROBE_PUBLISHED_MESSAGES_FILE"):
            record_published_messages(Path(messages_file))
        if marker := os.environ.get("PROBE_CUT_DATABASE_MARKER"):
            on_first_call("run_batch", Path(marker), after=cut_database_connection)
        if held := os.environ.get("PROBE_HOLD_MID_BATCH_MARKER"):
            hold_second_batch_midway(Path(held))
        if ballast := os.environ.get("PROBE_FILL_DISK_BEFORE_ARCHIVE"):
            ballast = Path(ballast)
            placed = ballast.with_name(ballast.name + ".placed")
            on_first_call("run_archive", placed, before=lambda: fill_disk(ballast))


def record_published_messages(path: Path) -> None:
    def record(sender=None, body=None, headers=None, **kwargs) -> None:
        line = json.dumps({"task": sender, "headers": headers, "body": body}, default=str)
        with path.open("a") as file:
            file.write(line + "\n")

    before_task_publish.connect(record, weak=False)


def on_first_call(
    name: str,
    marker: Path,
    *,
    before: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
) -> None:
    """Wrap the pipeline step ``exports.stages.<name>`` so the first call, in any worker
    process, runs ``before`` and ``after`` around it; ``marker`` records that it happened."""
    from exports import stages

    step = getattr(stages, name)

    def probed(*args, **kwargs):
        first = not marker.exists()
        if first:
            marker.touch()
            if before:
                before()
        result = step(*args, **kwargs)
        if first and after:
            after()
        return result

    setattr(stages, name, probed)


PATIENTS_BEFORE_THE_HOLD = 2


def hold_second_batch_midway(marker: Path) -> None:
    from exports import stages

    step = stages.run_batch
    batches_seen = []

    def probed(source, context, patient_ids, *args, **kwargs):
        batches_seen.append(1)
        if len(batches_seen) == 2:
            patient_ids = _held_after(patient_ids, PATIENTS_BEFORE_THE_HOLD, marker)
        return step(source, context, patient_ids, *args, **kwargs)

    stages.run_batch = probed


def _held_after(patient_ids, count: int, marker: Path):
    for number, patient_id in enumerate(patient_ids):
        if number == count:
            marker.touch()
            while True:  # until the test kills this worker
                time.sleep(1)
        yield patient_id


def fill_disk(ballast: Path) -> None:
    with ballast.open("wb") as file:
        free = shutil.disk_usage(ballast.parent).free
        os.posix_fallocate(file.fileno(), 0, free - ROOM_LEFT_ON_A_FILLED_DISK)


def cut_database_connection() -> None:
    if connection.vendor != "postgresql":
        connection.execute_wrappers.append(_fail_once)
        return
    backend_pid = connection.connection.info.backend_pid
    admin = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
            for _ in range(100):  # until the backend is really gone
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend_pid])
                if cursor.fetchone() is None:
                    return
                time.sleep(0.05)
    finally:
        admin.close()


def _fail_once(execute, sql, params, many, context):
    connection.execute_wrappers.remove(_fail_once)
    raise OperationalError("disk I/O error")
