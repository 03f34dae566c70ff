"""Worker liveness, recorded by a beat task that any worker picks up."""

from __future__ import annotations

import os

from django.utils import timezone

from .models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"last_seen": timezone.now(), "pid": os.getpid()}
    )
    return heartbeat
