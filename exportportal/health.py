"""Is this deployment able to work? The checks behind ``/healthz``: the database answers, the
broker answers, staging takes a write, and a worker was seen recently (the beat's heartbeat
task, recorded by whichever worker ran it). Each answer is a short fixed phrase, never an
exception's text, so nothing about patients, hosts or credentials leaks to an unsigned caller.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

OK = "ok"


def database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return OK


def broker() -> str:
    from exportportal.celery import app

    try:
        with app.connection_for_write(
            url=settings.CELERY_BROKER_URL, connect_timeout=settings.HEALTH_TIMEOUT_SECONDS
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_TIMEOUT_SECONDS)
            conn.default_channel  # noqa: B018 - opening a channel is the real round trip
    except Exception:  # kombu and each transport raise their own kinds; any means "down"
        logger.warning("health: broker unreachable", exc_info=True)
        return "unreachable"
    return OK


def staging() -> str:
    folder = Path(settings.EXPORT_STAGING_DIR)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError:
        return "not writable"
    return OK


def worker() -> str:
    from exports.models import WorkerHeartbeat

    since = timezone.now() - timedelta(seconds=settings.HEALTH_WORKER_SEEN_SECONDS)
    if WorkerHeartbeat.objects.filter(last_seen__gte=since).exists():
        return OK
    return f"none seen in {settings.HEALTH_WORKER_SEEN_SECONDS} s"


CHECKS: dict[str, Callable[[], str]] = {
    "database": database,
    "broker": broker,
    "staging": staging,
    "worker": worker,
}


def health_report() -> dict:
    """``{"status": "ok" | "failing", "checks": {name: "ok" | what is wrong}}``."""
    checks = {name: check() for name, check in CHECKS.items()}
    if checks["database"] != OK:  # the worker check reads the database: say why it is unknown
        checks["worker"] = "unknown (no database)"
    healthy = all(answer == OK for answer in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks}
