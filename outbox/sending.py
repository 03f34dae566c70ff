"""Queue an email with the step that causes it; send it later, again and again until the mail
server takes it.

``queue_email`` writes the row inside the caller's transaction: the email exists exactly when
the step committed, and nothing about the mail server can fail the step. After the commit a
Celery task sends it (``send_email``); a refused send is tried again with a growing wait, and
after OUTBOX_MAX_ATTEMPTS the email is marked failed, for an admin to see and send again. The
beat's sweep (``send_due_emails``) sends whatever a lost task message or a killed worker left.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from .models import OutboundEmail

logger = logging.getLogger(__name__)

State = OutboundEmail.State
# A send still marked as in progress after this long died with its worker: send it again.
_ABANDONED_AFTER = timedelta(minutes=10)
_LONGEST_WAIT_SECONDS = 3600


def queue_email(*, kind: str, subject: str, body: str, recipients: Iterable[str]) -> OutboundEmail:
    """Keep the email for sending once the surrounding transaction commits."""
    email = OutboundEmail.objects.create(
        kind=kind, subject=subject, body=body, recipients=sorted(set(recipients))
    )
    transaction.on_commit(partial(_ask_a_worker, email.pk))
    return email


#: the task that sends one email, sent by its registered name: ``outbox.tasks`` imports this
#: module, so this one does not import it
SEND_EMAIL_TASK = "outbox.send_email"


def _ask_a_worker(email_id: int) -> None:
    try:
        current_app.tasks[SEND_EMAIL_TASK].delay(email_id)
    except BrokerUnavailable:  # the step stands; the beat's sweep sends the email later
        logger.warning("outbox email %s: broker unavailable, left for the sweep", email_id)


@dataclass(frozen=True)
class SendOutcome:
    state: str | None  # None: not this caller's to send (sent, failed, in progress, not due)
    retry_in_seconds: int | None = None


def retry_wait_seconds(attempts: int) -> int:
    """The wait after the ``attempts``-th refused send: doubling from the backoff setting."""
    wait = settings.OUTBOX_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return min(wait, _LONGEST_WAIT_SECONDS)


def send_email(email_id: int, *, now: datetime | None = None) -> SendOutcome:
    """Send one queued email if it is due, claiming it first so no two workers send it."""
    now = now or timezone.now()
    claimed = OutboundEmail.objects.filter(
        pk=email_id, state=State.PENDING, next_attempt_at__lte=now
    ).update(state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return SendOutcome(state=None)
    email = OutboundEmail.objects.get(pk=email_id)
    message = EmailMessage(
        email.subject, email.body, settings.DEFAULT_FROM_EMAIL, to=email.recipients
    )
    try:
        message.send()
    except OSError as error:  # smtplib's errors, refused connections, TLS trouble, timeouts
        return _refused(email, error, now)
    email.state, email.sent_at, email.last_error = State.SENT, timezone.now(), ""
    email.save(update_fields=["state", "sent_at", "last_error"])
    logger.info("outbox email %s (%s) sent", email.pk, email.kind)
    return SendOutcome(state=State.SENT)


def _refused(email: OutboundEmail, error: OSError, now: datetime) -> SendOutcome:
    code = getattr(error, "smtp_code", None)
    email.last_error = type(error).__name__ + (f" (SMTP {code})" if code else "")
    if email.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        email.state = State.FAILED
        email.save(update_fields=["state", "last_error"])
        logger.error(
            "outbox email %s (%s) failed after %d attempts: %s",
            email.pk, email.kind, email.attempts, email.last_error,
        )  # fmt: skip
        return SendOutcome(state=State.FAILED)
    wait = retry_wait_seconds(email.attempts)
    email.state, email.next_attempt_at = State.PENDING, now + timedelta(seconds=wait)
    email.save(update_fields=["state", "next_attempt_at", "last_error"])
    logger.warning(
        "outbox email %s (%s) attempt %d refused (%s); next in %d s",
        email.pk, email.kind, email.attempts, email.last_error, wait,
    )  # fmt: skip
    return SendOutcome(state=State.PENDING, retry_in_seconds=wait)


def send_due_emails(*, now: datetime | None = None) -> int:
    """Send every email that is due, including any a dead worker was sending. Returns how
    many were sent."""
    now = now or timezone.now()
    abandoned = OutboundEmail.objects.filter(
        state=State.SENDING, claimed_at__lt=now - _ABANDONED_AFTER
    )
    # A send that kills its worker every time must not be tried for ever.
    abandoned.filter(attempts__gte=settings.OUTBOX_MAX_ATTEMPTS).update(
        state=State.FAILED, last_error="abandoned while sending"
    )
    abandoned.update(state=State.PENDING)
    due = OutboundEmail.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True))
    return sum(send_email(pk, now=now).state == State.SENT for pk in ids)


def resend(email_ids: Iterable[int]) -> int:
    """An admin's "send again": failed emails start over with a full set of attempts, and go
    now. Returns how many were queued again."""
    failed = OutboundEmail.objects.filter(pk__in=list(email_ids), state=State.FAILED)
    with transaction.atomic():
        ids = list(failed.select_for_update().values_list("pk", flat=True))
        OutboundEmail.objects.filter(pk__in=ids).update(
            state=State.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        for pk in ids:
            transaction.on_commit(partial(_ask_a_worker, pk))
    logger.info("outbox: %d failed emails queued again", len(ids))
    return len(ids)
