"""After delivery: the point of contact's access, the reminders before it ends, and the proven
deletion at its end (or earlier, when an admin asks).

- At delivery the job gets a Box shared-link password of its own (never the archive password),
  saved before the first upload so a retried delivery protects the link with the same one; the
  access granted is recorded as a "delivery.access_granted" event.
- ``send_expiry_reminders`` emails the account manager and the point of contact 7 days and
  1 day before access ends. Each reminder is a "delivery.reminder_sent" event, checked before
  sending, so a run repeated the same day sends nothing twice.
- ``delete_delivery`` ends access: it records "deletion.started" (what is about to be deleted)
  before calling the backend, revokes the point of contact's access, deletes the delivered files
  (Box: the folder, then its trash), deletes every local copy, and records the evidence as
  "deletion.completed". Only when the evidence confirms everything absent does the request move
  to expired. A failure leaves the request delivered; the task retries, then
  ``deletion_failed`` records it and emails the admins.
- Admins may end access early with a reason (``request_early_deletion``); the account manager
  and admins may reveal the passwords of a delivered export (``reveal_passwords``), audited.

Events and emails name request references, job ids and Box ids; never a password, never PHI.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from exports.delivery.base import (
    DeletionEvidence,
    DeletionStep,
    DeliveryBackend,
    DeliveryError,
    DeliveryReceipt,
    utc_now,
)
from exports.delivery.box import BoxBackend
from exports.delivery.factory import box_settings
from exports.delivery.local import LocalFolderBackend
from exports.models import ExportJob
from exports.passwords import generate_archive_password
from exports.pipeline import dispatch
from exports.selectors import delivered_job
from outbox.sending import queue_email
from requests_app import notifications, permissions
from requests_app import selectors as request_selectors
from requests_app import services as request_services
from requests_app.models import ExportRequest, Status
from requests_app.selectors import request_for_update
from requests_app.services import RequestActionError

logger = logging.getLogger(__name__)

#: reminders go out this many days before access ends, each once
REMINDER_DAYS = (7, 1)

ACCESS_GRANTED = "delivery.access_granted"
REMINDER_SENT = "delivery.reminder_sent"
ACCESS_ENDED = "delivery.expired"
EARLY_DELETION = "deletion.requested_early"
DELETION_STARTED = "deletion.started"
DELETION_COMPLETED = "deletion.completed"
DELETION_FAILED = "deletion.failed"
PASSWORD_REVEALED = "password.revealed"  # noqa: S105 (an event name)

CONFIRMED_ABSENT = "confirmed_absent"
_CONFIRM_LOCAL = "confirm_local_copy_absent"


def _delivered(export_request: ExportRequest) -> bool:
    return export_request.status == Status.DELIVERED


#: an admin ends a delivered export's access early (with a reason)
DELETE_EARLY = permissions.Rule(
    may=lambda user, export_request: permissions.is_admin(user), applies=_delivered
)
#: the practice's account manager (or an admin) reveals a delivered export's passwords
REVEAL_PASSWORDS = permissions.Rule(may=permissions.can_manage_request, applies=_delivered)

#: backends that make a password-protected shared link (the others grant access another way)
_LINK_BACKENDS = frozenset({BoxBackend.kind})


def _record(
    export_request: ExportRequest,
    action: str,
    *,
    actor: AbstractBaseUser | None = None,
    note: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """An event that changes no status."""
    request_services.request_event_record(
        export_request, actor=actor, action=action, note=note, details=details
    )


# -- at delivery ---------------------------------------------------------------------------------


def shared_link_password_for(job: ExportJob, backend: DeliveryBackend) -> str | None:
    """The job's shared-link password, made and saved on first use; None when the backend
    makes no links. Saved before the upload so a retried delivery reuses it."""
    if backend.kind not in _LINK_BACKENDS:
        return None
    if not job.shared_link_password:
        job.shared_link_password = generate_archive_password()
        job.save(update_fields=["shared_link_password"])
    return job.shared_link_password


def record_access_granted(export_request: ExportRequest, receipt: DeliveryReceipt) -> None:
    """The access the point of contact got, for the delivery audit. Call inside the delivery's
    transaction, after the request moved to delivered."""
    data = receipt.to_dict()
    _record(
        export_request,
        ACCESS_GRANTED,
        details={
            "backend": data["backend"],
            "location_id": data["location_id"],
            "expires_at": data["expires_at"],
            **{key: value for key, value in data["access"].items() if value not in (None, "")},
        },
    )


# -- reminders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderDue:
    """Which reminder is due (the mark, in days before expiry) and how many days are left,
    counting a part day as a day."""

    mark: int
    days_left: int


def reminder_due(expires_at: datetime, now: datetime) -> ReminderDue | None:
    """The most urgent reminder whose mark has passed, while access lasts. A run that missed the
    7-day mark and finds 1 day left sends the 1-day reminder only."""
    remaining = expires_at - now
    if remaining <= timedelta(0):
        return None
    passed = [mark for mark in REMINDER_DAYS if remaining <= timedelta(days=mark)]
    if not passed:
        return None
    return ReminderDue(mark=min(passed), days_left=days_left(expires_at, now))


def days_left(expires_at: datetime | None, now: datetime) -> int:
    """Days of access left, counting a part day as a day; 0 once access has ended."""
    if expires_at is None:
        return 0
    return max(0, math.ceil((expires_at - now) / timedelta(days=1)))


def send_expiry_reminders(now: datetime) -> int:
    """Send the reminders due at ``now``, each at most once. Returns how many were sent."""
    window = now + timedelta(days=max(REMINDER_DAYS))
    # Ids only (a few per day), read before any row is locked and written.
    due = request_selectors.delivered_request_ids(expiring_after=now, expiring_by=window)
    return sum(send_expiry_reminder(pk, now=now) for pk in due)


def send_expiry_reminder(export_request_id: int, *, now: datetime) -> bool:
    """Email the reminder due for one request, unless it went out already. The email is
    queued in the outbox in the same transaction as the event: both or neither."""
    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        if export_request.status != Status.DELIVERED or export_request.access_expires_at is None:
            return False
        due = reminder_due(export_request.access_expires_at, now)
        if due is None:
            return False
        if request_selectors.has_event(export_request, REMINDER_SENT, mark=due.mark):
            return False
        notifications.access_expiring(export_request.pk, days_left=due.days_left)
        _record(
            export_request,
            REMINDER_SENT,
            details={
                "mark": due.mark,
                "days_left": due.days_left,
                "expires_at": export_request.access_expires_at.isoformat(),
            },
        )
    logger.info("request %s: %d-day expiry reminder sent", export_request_id, due.mark)
    return True


# -- deletion ------------------------------------------------------------------------------------


def deletion_requests_due(now: datetime) -> list[int]:
    """Delivered requests whose access has ended, or that an admin asked to delete early."""
    return request_selectors.delivered_request_ids_flagged(
        expired_by=now, flagged_by=EARLY_DELETION
    )


def queue_due_deletions(now: datetime) -> int:
    """Send one deletion task per request due; each retries on its own."""
    queued = 0
    for export_request_id in deletion_requests_due(now):
        dispatch.send(dispatch.DELETE_DELIVERY, export_request_id)
        queued += 1
    if queued:
        logger.info("deletion queued for %d requests", queued)
    return queued


def run_delivery_lifecycle(now: datetime) -> tuple[int, int]:
    """The scheduled pass: deletions are queued first (a failing mail server must not keep
    access open), then reminders are sent. Returns (deletions queued, reminders sent)."""
    return queue_due_deletions(now), send_expiry_reminders(now)


def _deletion_is_due(export_request: ExportRequest, now: datetime) -> bool:
    if export_request.access_expires_at is not None and export_request.access_expires_at <= now:
        return True
    return request_selectors.has_event(export_request, EARLY_DELETION)


def deletion_backend(receipt: DeliveryReceipt) -> DeliveryBackend:
    """The backend that made this delivery, configured from settings (never from the receipt:
    a receipt names what to delete, settings say where deleting is allowed)."""
    if receipt.backend == BoxBackend.kind:
        return BoxBackend.from_settings(box_settings())
    if receipt.backend == LocalFolderBackend.kind:
        return LocalFolderBackend(settings.EXPORT_LOCAL_DELIVERY_DIR)
    raise DeliveryError(f"{receipt.request_ref}: unknown delivery backend {receipt.backend!r}")


def delete_delivery(export_request_id: int) -> DeletionEvidence | None:
    """End access and delete every copy, then record the proof and expire the request.

    Does nothing (returns None) when the request is no longer delivered or its deletion is not
    due. Raises ``DeliveryError`` (``TransientDeliveryError`` when worth retrying) when anything
    could not be deleted or confirmed absent; the request then stays delivered.
    """
    now = timezone.now()
    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        if export_request.status != Status.DELIVERED or not _deletion_is_due(export_request, now):
            return None
        job = delivered_job(export_request)
        if job is None or not job.delivery_receipt:
            raise DeliveryError(
                f"{export_request.reference}: no delivery receipt, so nothing can be proven "
                "deleted; check the delivery by hand"
            )
        receipt = DeliveryReceipt.from_dict(job.delivery_receipt)
        # Recorded before the backend is called: whatever happens next, the audit shows what
        # was being deleted and when.
        _record(
            export_request,
            DELETION_STARTED,
            details={
                "job": job.pk,
                "attempt": job.attempt,
                "backend": receipt.backend,
                "location_id": receipt.location_id,
                "collaboration_id": receipt.access.collaboration_id,
            },
        )
    logger.info("request %s: deleting delivery of job %s", export_request_id, job.pk)

    evidence = deletion_backend(receipt).revoke_and_delete(receipt)
    local_steps = delete_local_copies(export_request)
    evidence = replace(evidence, steps=evidence.steps + local_steps, completed_at=utc_now())
    if not _confirms_absence(evidence, receipt):
        raise DeliveryError(f"{receipt.request_ref}: the deletion could not be confirmed")

    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        if export_request.status != Status.DELIVERED:
            return None  # another run finished first; its evidence is recorded
        deleted_at = timezone.now()
        _record(
            export_request,
            DELETION_COMPLETED,
            details=evidence.to_dict(),
        )
        export_request.jobs.delivered().update(finished_at=deleted_at)
        request_services.export_request_expire(
            export_request_id=export_request_id,
            action=ACCESS_ENDED,
            note="Access ended; the delivered files and every local copy are deleted.",
            early=export_request.access_expires_at > now,
            at=deleted_at,
        )
    logger.info("request %s: delivery deleted and confirmed absent", export_request_id)
    return evidence


def _confirms_absence(evidence: DeletionEvidence, receipt: DeliveryReceipt) -> bool:
    """The backend's own final check found the delivered location gone (local copies are
    checked as they are deleted)."""
    return evidence.location_id == receipt.location_id and any(
        step.outcome == CONFIRMED_ABSENT and step.action != _CONFIRM_LOCAL
        for step in evidence.steps
    )


def delete_local_copies(export_request: ExportRequest) -> tuple[DeletionStep, ...]:
    """Remove the staging folder (extracted files, archive parts, upload sessions) of every
    attempt, and any archive part kept elsewhere, and prove each gone."""
    steps: list[DeletionStep] = []
    for job in export_request.jobs.order_by("attempt"):
        steps += _delete_local(
            Path(job.staging_dir), f"staging of attempt {job.attempt} ({job.staging_dir})"
        )
        for part in job.archive_parts:
            steps += _delete_local(
                Path(part["path"]), f"archive part {part['number']} of attempt {job.attempt}"
            )
    return tuple(steps)


def _delete_local(path: Path, target: str) -> list[DeletionStep]:
    existed = path.exists() or path.is_symlink()
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif existed:
        path.unlink()
    if path.exists() or path.is_symlink():
        raise DeliveryError(f"a local copy is still present: {target}")
    return [
        DeletionStep(
            action="delete_local_copy",
            target=target,
            outcome="done" if existed else "already_absent",
            at=utc_now(),
        ),
        DeletionStep(action=_CONFIRM_LOCAL, target=target, outcome=CONFIRMED_ABSENT, at=utc_now()),
    ]


#: a deletion that keeps failing is retried every pass; admins hear of it once per this period
ALERT_EVERY = timedelta(days=1)


def deletion_failed(export_request_id: int, *, message: str) -> None:
    """A deletion gave up (retries ran out, or the error is permanent): record it on the request
    and email the admins (at most once a day per request, though every pass retries). The
    request stays delivered; the next scheduled pass tries again."""
    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        alert = not request_selectors.has_event(
            export_request,
            DELETION_FAILED,
            since=timezone.now() - ALERT_EVERY,
            admins_alerted=True,
        )
        _record(export_request, DELETION_FAILED, note=message, details={"admins_alerted": alert})
        if alert:
            _alert_admins(export_request, message)  # into the outbox, with the failure
    logger.error("request %s: deletion failed: %s", export_request_id, message)


def admin_addresses() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, groups__name=Role.ADMIN.value)
    return sorted({email for email in users.values_list("email", flat=True) if email})


def _alert_admins(export_request: ExportRequest, message: str) -> None:
    recipients = admin_addresses()
    if not recipients:
        logger.error("deletion failure alert not sent: no admin has an email address")
        return
    context = {
        "r": export_request,
        "message": message,
        "url": settings.PORTAL_BASE_URL.rstrip("/")
        + reverse("requests_app:detail", args=[export_request.pk]),
    }
    queue_email(
        kind="deletion_failed",
        subject=render_to_string("exports/emails/deletion_failed.subject.txt", context).strip(),
        body=render_to_string("exports/emails/deletion_failed.txt", context),
        recipients=recipients,
    )


# -- admins: early deletion ------------------------------------------------------------------------


def request_early_deletion(
    *, export_request_id: int, actor: AbstractBaseUser, reason: str
) -> ExportRequest:
    """End the point of contact's access now and delete the data. Admins only, with a reason.
    The deletion runs as a task; the request shows expired once it is confirmed."""
    if not reason.strip():
        raise RequestActionError("Say why the data is deleted before access ends.")
    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        if not DELETE_EARLY.may(actor, export_request):
            raise permissions.refusal(actor, EARLY_DELETION, export_request_id)
        if not DELETE_EARLY.applies(export_request):
            raise RequestActionError(
                f"This request is {export_request.get_status_display().lower()}; only a "
                "delivered export can be deleted early."
            )
        _record(
            export_request,
            EARLY_DELETION,
            actor=actor,
            note=reason.strip(),
        )
        notifications.access_ended_early(export_request.pk)  # into the outbox, with the step
        dispatch.send_on_commit(dispatch.DELETE_DELIVERY, export_request_id)
    return export_request


# -- the handoff: revealing the passwords ----------------------------------------------------------


@dataclass(frozen=True)
class Handoff:
    """What the account manager passes on to the point of contact by another channel."""

    reference: str
    archive_password: str
    shared_link_password: str
    shared_link_url: str | None
    expires_at: datetime | None

    def __repr__(self) -> str:  # keep the secrets out of tracebacks and debug output
        return f"Handoff(reference={self.reference!r})"


def reveal_passwords(*, export_request_id: int, actor: AbstractBaseUser) -> Handoff:
    """The delivered export's passwords, for the practice's account manager or an admin. The
    reveal is recorded (who, when, which passwords) before anything is returned."""
    with transaction.atomic():
        export_request = request_for_update(export_request_id)
        if not REVEAL_PASSWORDS.may(actor, export_request):
            raise permissions.refusal(actor, PASSWORD_REVEALED, export_request_id)
        job = delivered_job(export_request) if REVEAL_PASSWORDS.applies(export_request) else None
        if job is None or not job.archive_password:
            raise RequestActionError(
                "The passwords can be shown only while the export is delivered and accessible."
            )
        revealed = ["archive"] + (["shared_link"] if job.shared_link_password else [])
        _record(
            export_request,
            PASSWORD_REVEALED,
            actor=actor,
            details={"job": job.pk, "passwords": revealed},
        )
    receipt: dict[str, Any] = job.delivery_receipt or {}
    return Handoff(
        reference=export_request.reference,
        archive_password=job.archive_password,
        shared_link_password=job.shared_link_password,
        shared_link_url=receipt.get("access", {}).get("shared_link_url"),
        expires_at=export_request.access_expires_at,
    )
