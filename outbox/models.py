"""The email outbox: every email the portal sends is first a row here, written in the same
transaction as the step it reports, then sent by a Celery task (``outbox.sending``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboundEmail(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed: every attempt was refused"

    kind = models.CharField(max_length=64, help_text="Which email: its template's name.")
    subject = models.CharField(max_length=998)  # the longest line SMTP carries
    body = models.TextField(max_length=100_000)
    recipients = models.JSONField(default=list)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The error's type and SMTP code only: server messages can quote the addresses.
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outbound email"

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.get_state_display().lower()})"
