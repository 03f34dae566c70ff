"""The pipeline's one clock: leases, heartbeats and the sweeper all read it (tests move it)."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
