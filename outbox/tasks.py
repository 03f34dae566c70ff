"""Outbox tasks: thin callers of ``outbox.sending``; they take the email's id only."""

from __future__ import annotations

from celery import shared_task

from . import sending


@shared_task(name=sending.SEND_EMAIL_TASK, ignore_result=True)
def send_outbound_email(email_id: int) -> None:
    outcome = sending.send_email(email_id)
    if outcome.retry_in_seconds is not None:
        send_outbound_email.apply_async((email_id,), countdown=outcome.retry_in_seconds)


@shared_task(name="outbox.send_due", ignore_result=True)
def send_due_emails() -> int:
    return sending.send_due_emails()
