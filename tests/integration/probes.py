"""Test-only hooks inside worker processes, each off unless its environment variable is set:

``PROBE_CUT_DATABASE_MARKER``
    once, after a batch has written its files and before it records that, the worker's
    database connection is cut, and this file is created to say so. On PostgreSQL the server
    terminates the worker's backend (pg_terminate_backend); SQLite has no server to lose, so
    the next query fails with the OperationalError a vanished database file gives.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections


class ProbesConfig(AppConfig):
    name = "tests.integration.probes"
    label = "test_probes"

    def ready(self) -> None:
        if marker := os.environ.get("PROBE_CUT_DATABASE_MARKER"):
            cut_database_after_first_batch(Path(marker))


def cut_database_after_first_batch(marker: Path) -> None:
    from exports import stages

    run_batch = stages.run_batch

    def run_batch_then_cut(*args, **kwargs):
        result = run_batch(*args, **kwargs)
        if not marker.exists():
            marker.touch()
            cut_database_connection()
        return result

    stages.run_batch = run_batch_then_cut


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
