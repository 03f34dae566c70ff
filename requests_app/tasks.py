"""Scheduled work for requests. Tasks are thin: the logic lives in notifications and selectors."""

from celery import shared_task
from django.utils import timezone

from . import audit_checkpoints, notifications


@shared_task(name="requests_app.send_timeline_digest")
def send_timeline_digest() -> int:
    """Daily (beat): email the at-risk and overdue requests to account managers and data team.
    Returns the number of emails sent."""
    return notifications.timeline_digest(timezone.now())


@shared_task(name="requests_app.write_audit_checkpoint")
def write_audit_checkpoint() -> int:
    """Every few minutes (beat): record the audit chain's head outside the database. Returns
    the number of events the checkpoint covers."""
    return audit_checkpoints.write_checkpoint().events
