"""Every change to a request goes through here: checked, recorded as an event, then acted on.

Each service locks the request row, checks that the move is legal now and that the actor may
make it, changes state, and writes the RequestEvent in the same transaction. Emails go into the
outbox in that transaction too (both or neither, and a worker sends them after the commit);
tasks are queued with ``transaction.on_commit`` so a rolled-back change starts nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm
from guardian.shortcuts import assign_perm, remove_perm

from accounts.roles import Role, has_role

from . import notifications, permissions
from .audit import portal_event_record
from .models import BEFORE_READY, CLOSED, ExportRequest, Practice, RequestEvent, Status
from .uploads import stored_first, validate_signed_addendum


class RequestActionError(Exception):
    """A move that is not possible now; the message is shown to the person as it is."""


def record_event(
    export_request: ExportRequest,
    *,
    actor: AbstractBaseUser | None,
    action: str,
    from_status: str = "",
    note: str = "",
    details: dict[str, Any] | None = None,
) -> RequestEvent:
    return RequestEvent.objects.create(
        request=export_request,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=export_request.status,
        note=note,
        details=details or {},
    )


def transition_request(
    export_request_id: int,
    *,
    actor: AbstractBaseUser | None,
    method: str,
    action: str,
    note: str = "",
    details: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ExportRequest:
    """Run one state-machine transition under a row lock and record it. Call inside atomic()."""
    export_request = (
        ExportRequest.objects.select_for_update()
        .select_related("practice")
        .get(pk=export_request_id)
    )
    bound = getattr(export_request, method)
    if not can_proceed(bound):
        raise RequestActionError(
            f"This request is {export_request.get_status_display().lower()}; "
            f"that step is not possible now."
        )
    if not has_transition_perm(bound, actor):
        raise permissions.refusal(actor, action, export_request_id)
    from_status = export_request.status
    bound(**kwargs)
    export_request.save()
    record_event(
        export_request,
        actor=actor,
        action=action,
        from_status=from_status,
        note=note,
        details=details,
    )
    return export_request


def _check(
    rule: permissions.Rule,
    actor: AbstractBaseUser,
    export_request: ExportRequest,
    action: str,
    *,
    not_now: str,
) -> None:
    """Under the row lock: who may not is refused (a logged 403); a step that does not apply
    to the request as it is now is refused with ``not_now``, said to the person."""
    if not rule.may(actor, export_request):
        raise permissions.refusal(actor, action, export_request.pk)
    if not rule.applies(export_request):
        raise RequestActionError(
            f"This request is {export_request.get_status_display().lower()}; {not_now}"
        )


# -- practices ----------------------------------------------------------------------------------


@transaction.atomic
def practice_create(
    *,
    name: str,
    ehr_practice_id: str,
    account_manager: AbstractBaseUser,
    actor: AbstractBaseUser | None = None,
) -> Practice:
    """A practice and its account manager's right to it. From the portal (``actor``): an
    account manager adds practices for themselves, an admin for any account manager."""
    if actor is not None and not _may_give_practice_to(actor, account_manager):
        raise permissions.refusal(actor, "practice.created", 0)
    practice = Practice(name=name, ehr_practice_id=ehr_practice_id, account_manager=account_manager)
    practice.full_clean()
    practice.save()
    assign_perm(permissions.MANAGE_PRACTICE, account_manager, practice)
    if actor is not None:
        _practice_event_record(actor, "practice.added", practice, ["name", "ehr_practice_id"])
    return practice


@transaction.atomic
def practice_update(
    *,
    practice_id: int,
    actor: AbstractBaseUser,
    name: str,
    ehr_practice_id: str,
    active: bool,
    account_manager: AbstractBaseUser | None = None,
) -> Practice:
    """Rename, re-number or (de)activate a practice one manages; only an admin hands it to
    another account manager."""
    practice = Practice.objects.select_for_update().get(pk=practice_id)
    previous = practice.account_manager
    new_manager = account_manager or previous
    if not permissions.can_manage_practice(actor, practice) or not _may_give_practice_to(
        actor, new_manager
    ):
        raise permissions.refusal(actor, "practice.changed", 0)
    before = _practice_facts(practice)
    practice.name, practice.ehr_practice_id, practice.active = name, ehr_practice_id, active
    practice.account_manager = new_manager
    practice.full_clean()
    practice.save()
    practice_sync_manager_permission(practice=practice, previous_manager=previous)
    after = _practice_facts(practice)
    changed = [field for field in after if after[field] != before[field]]
    if changed:
        _practice_event_record(actor, "practice.changed", practice, changed)
    return practice


def _practice_facts(practice: Practice) -> dict[str, Any]:
    return {
        "name": practice.name,
        "ehr_practice_id": practice.ehr_practice_id,
        "active": practice.active,
        "account_manager": practice.account_manager_id,
    }


def _practice_event_record(
    actor: AbstractBaseUser, action: str, practice: Practice, fields: list[str]
) -> None:
    """A practice added or changed in the portal, audited like a change in the Django admin:
    which practice and the names of the fields, never their old values."""
    portal_event_record(
        actor=actor,
        action=action,
        details={"object": str(practice), "object_id": str(practice.pk), "fields": fields},
    )


def _may_give_practice_to(actor: AbstractBaseUser, account_manager: AbstractBaseUser) -> bool:
    if permissions.is_admin(actor):
        return has_role(account_manager, Role.ACCOUNT_MANAGER)
    return has_role(actor, Role.ACCOUNT_MANAGER) and account_manager.pk == actor.pk


def practice_sync_manager_permission(
    *, practice: Practice, previous_manager: AbstractBaseUser | None
) -> None:
    """After a practice is saved with a (possibly new) account manager: only they manage it."""
    if previous_manager is not None and previous_manager.pk != practice.account_manager_id:
        remove_perm(permissions.MANAGE_PRACTICE, previous_manager, practice)
    assign_perm(permissions.MANAGE_PRACTICE, practice.account_manager, practice)


# -- filing and the account manager's steps ----------------------------------------------------


@transaction.atomic
def export_request_file(
    *,
    actor: AbstractBaseUser,
    practice: Practice,
    poc_name: str,
    poc_email: str,
    categories: list[str],
    poc_phone: str = "",
    custom_requirements: str = "",
    fee_amount: Decimal | None = None,
    fee_currency: str = "USD",
    invoice_reference: str = "",
) -> ExportRequest:
    if not permissions.can_manage_practice(actor, practice):
        raise permissions.refusal(actor, "request.filed", 0)
    if not practice.active:
        raise RequestActionError(
            "This practice is inactive; reactivate it before filing a request."
        )
    export_request = ExportRequest(
        practice=practice,
        poc_name=poc_name,
        poc_email=poc_email,
        poc_phone=poc_phone,
        categories=categories,
        custom_requirements=custom_requirements,
        fee_amount=fee_amount,
        fee_currency=fee_currency,
        invoice_reference=invoice_reference,
        created_by=actor,
    )
    export_request.full_clean()
    export_request.save()
    record_event(export_request, actor=actor, action="request.filed")
    return export_request


@transaction.atomic
def export_request_send_addendum(
    *, export_request_id: int, actor: AbstractBaseUser, note: str = ""
) -> ExportRequest:
    return transition_request(
        export_request_id,
        actor=actor,
        method="send_addendum",
        action="request.addendum_sent",
        note=note,
        at=timezone.now(),
    )


def export_request_record_signed_addendum(
    *,
    export_request_id: int,
    actor: AbstractBaseUser,
    signed_addendum: UploadedFile,
) -> ExportRequest:
    validate_signed_addendum(signed_addendum)
    current = ExportRequest.objects.get(pk=export_request_id)
    filename = f"{current.reference}-signed-addendum.pdf"
    with (
        stored_first(current.signed_addendum, filename, signed_addendum) as stored_name,
        transaction.atomic(),
    ):
        current = ExportRequest.objects.select_for_update().get(pk=export_request_id)
        method = (
            "record_signature_completing"
            if current.status == Status.FEE_COLLECTED
            else "record_signature"
        )
        export_request = transition_request(
            export_request_id,
            actor=actor,
            method=method,
            action="request.addendum_signed",
            at=timezone.now(),
            details={"file_bytes": signed_addendum.size},
        )
        export_request.signed_addendum.name = stored_name
        export_request.save(update_fields=["signed_addendum", "updated_at"])
        _after_ready(export_request)
    return export_request


@transaction.atomic
def export_request_record_fee(
    *,
    export_request_id: int,
    actor: AbstractBaseUser,
    amount: Decimal,
    invoice_reference: str,
    currency: str = "USD",
) -> ExportRequest:
    current = ExportRequest.objects.select_for_update().get(pk=export_request_id)
    method = "record_fee_completing" if current.status == Status.ADDENDUM_SIGNED else "record_fee"
    export_request = transition_request(
        export_request_id,
        actor=actor,
        method=method,
        action="request.fee_collected",
        at=timezone.now(),
        details={
            "amount": str(amount),
            "currency": currency,
            "invoice_reference": invoice_reference,
            **_quote(current),
        },
    )
    export_request.fee_collected_amount = amount
    export_request.fee_collected_currency = currency
    export_request.invoice_reference = invoice_reference
    export_request.full_clean()
    export_request.save(
        update_fields=[
            "fee_collected_amount",
            "fee_collected_currency",
            "invoice_reference",
            "updated_at",
        ]
    )
    _after_ready(export_request)
    return export_request


def _quote(export_request: ExportRequest) -> dict[str, str]:
    """The fee quoted at filing, for the collection's event (so history can tell a difference)."""
    if export_request.fee_amount is None:
        return {}
    return {
        "quoted_amount": str(export_request.fee_amount),
        "quoted_currency": export_request.fee_currency,
    }


def _after_ready(export_request: ExportRequest) -> None:
    if export_request.status == Status.READY:
        notifications.request_ready(export_request.pk)


@transaction.atomic
def export_request_cancel(
    *, export_request_id: int, actor: AbstractBaseUser, reason: str
) -> ExportRequest:
    if not reason.strip():
        raise RequestActionError("Say why the request is cancelled.")
    export_request = transition_request(
        export_request_id,
        actor=actor,
        method="cancel",
        action="request.cancelled",
        note=reason,
        at=timezone.now(),
    )
    _drop_operator(export_request)
    return export_request


@transaction.atomic
def export_request_hold(
    *, export_request_id: int, actor: AbstractBaseUser, reason: str
) -> ExportRequest:
    if not reason.strip():
        raise RequestActionError("Say why the request is put on hold.")
    return transition_request(
        export_request_id, actor=actor, method="hold", action="request.held", note=reason
    )


@transaction.atomic
def export_request_resume(*, export_request_id: int, actor: AbstractBaseUser) -> ExportRequest:
    return transition_request(
        export_request_id, actor=actor, method="resume", action="request.resumed"
    )


#: what an account manager may change on a request after filing it (not the practice)
EDITABLE_FIELDS = (
    "poc_name",
    "poc_email",
    "poc_phone",
    "categories",
    "custom_requirements",
    "fee_amount",
    "fee_currency",
)

#: the request's account manager (or an admin) edits it until the data team claims it
EDIT_REQUEST = permissions.Rule(
    may=permissions.can_manage_request,
    applies=lambda export_request: export_request.status in (*BEFORE_READY, Status.READY),
)


@transaction.atomic
def export_request_edit(
    *, export_request_id: int, actor: AbstractBaseUser, **changes: Any
) -> ExportRequest:
    """Change what was filed, before the request is claimed; History names the fields changed
    (not their values)."""
    if unknown := set(changes) - set(EDITABLE_FIELDS):
        raise ValueError(f"not editable: {sorted(unknown)}")
    export_request = (
        ExportRequest.objects.select_for_update()
        .select_related("practice")
        .get(pk=export_request_id)
    )
    _check(
        EDIT_REQUEST, actor, export_request, "request.edited",
        not_now="it can be edited only until the data team claims it.",
    )  # fmt: skip
    changed = [name for name, value in changes.items() if getattr(export_request, name) != value]
    if not changed:
        return export_request
    for name in changed:
        setattr(export_request, name, changes[name])
    export_request.full_clean()
    export_request.save(update_fields=[*changed, "updated_at"])
    record_event(
        export_request,
        actor=actor,
        action="request.edited",
        from_status=export_request.status,
        details={
            "fields": [str(ExportRequest._meta.get_field(name).verbose_name) for name in changed]
        },
    )
    return export_request


# -- the data team's steps -----------------------------------------------------------------------


@transaction.atomic
def export_request_claim(*, export_request_id: int, actor: AbstractBaseUser) -> ExportRequest:
    """Only one person can own a request: the row lock makes a second claimant wait, then see
    the first one's name."""
    # No select_related: PostgreSQL re-reads only the locked row after the wait, so a joined
    # owner would still be the pre-lock NULL. The owner is read after the lock instead.
    current = ExportRequest.objects.select_for_update().get(pk=export_request_id)
    if current.claimed_by_id is not None:
        owner = current.claimed_by
        who = "you" if owner.pk == actor.pk else (owner.get_full_name() or owner.get_username())
        raise RequestActionError(f"Already claimed by {who}.")
    export_request = transition_request(
        export_request_id,
        actor=actor,
        method="claim",
        action="request.claimed",
        by=actor,
        at=timezone.now(),
    )
    assign_perm(permissions.OPERATE_REQUEST, actor, export_request)
    return export_request


@transaction.atomic
def export_request_release(
    *, export_request_id: int, actor: AbstractBaseUser, note: str = ""
) -> ExportRequest:
    export_request = ExportRequest.objects.get(pk=export_request_id)
    owner = export_request.claimed_by
    export_request = transition_request(
        export_request_id, actor=actor, method="release", action="request.released", note=note
    )
    if owner is not None:
        remove_perm(permissions.OPERATE_REQUEST, owner, export_request)
    return export_request


#: an admin names who owns a request (a data-team member) once it is ready, until delivery
ASSIGN_OWNER = permissions.Rule(
    may=lambda user, export_request: permissions.is_admin(user),
    applies=lambda export_request: (
        export_request.status == Status.READY
        or (
            export_request.claimed_by_id is not None
            and export_request.status not in (Status.DELIVERED, *CLOSED)
        )
    ),
)


@transaction.atomic
def export_request_assign_owner(
    *, export_request_id: int, actor: AbstractBaseUser, owner: AbstractBaseUser, note: str = ""
) -> ExportRequest:
    """An admin gives a ready request to a data-team member (their claim, made for them) or
    hands a claimed one over: the new owner alone may operate it; History says who to whom."""
    export_request = ExportRequest.objects.select_for_update().get(pk=export_request_id)
    _check(
        ASSIGN_OWNER, actor, export_request, "request.owner_assigned",
        not_now="its owner cannot change now.",
    )  # fmt: skip
    if not has_role(owner, Role.DATA_TEAM) or not owner.is_active:
        raise RequestActionError("Only an active member of the data team can own a request.")
    previous = export_request.claimed_by
    if previous is not None and previous.pk == owner.pk:
        raise RequestActionError(f"{_name(owner)} already owns this request.")
    if export_request.status == Status.READY:
        export_request = transition_request(
            export_request_id,
            actor=actor,
            method="claim",
            action="request.owner_assigned",
            note=note,
            details={"owner": _name(owner)},
            by=owner,
            at=timezone.now(),
        )
    else:
        _drop_operator(export_request)
        export_request.claimed_by = owner
        export_request.claimed_at = timezone.now()
        export_request.save(update_fields=["claimed_by", "claimed_at", "updated_at"])
        record_event(
            export_request,
            actor=actor,
            action="request.owner_assigned",
            from_status=export_request.status,
            note=note,
            details={"owner": _name(owner), "previous_owner": _name(previous)},
        )
    assign_perm(permissions.OPERATE_REQUEST, owner, export_request)
    return export_request


def _name(user: AbstractBaseUser) -> str:
    return user.get_full_name() or user.get_username()


def _drop_operator(export_request: ExportRequest) -> None:
    from guardian.shortcuts import get_users_with_perms

    for user in get_users_with_perms(export_request, only_with_perms_in=["operate_exportrequest"]):
        remove_perm(permissions.OPERATE_REQUEST, user, export_request)


# -- admin ---------------------------------------------------------------------------------------

#: admins extend the timeline of a request whose clock has not stopped
EXTEND_TIMELINE = permissions.Rule(
    may=lambda user, export_request: permissions.is_admin(user),
    applies=lambda export_request: (
        export_request.status not in (Status.DELIVERED, Status.EXPIRED, Status.CANCELLED)
    ),
)


@transaction.atomic
def export_request_grant_extension(
    *, export_request_id: int, actor: AbstractBaseUser, days: int, reason: str
) -> ExportRequest:
    export_request = ExportRequest.objects.select_for_update().get(pk=export_request_id)
    if not EXTEND_TIMELINE.may(actor, export_request):
        raise permissions.refusal(actor, "request.extension_granted", export_request_id)
    if not reason.strip():
        raise RequestActionError("An extension needs a reason.")
    if not 1 <= days <= 365:
        raise RequestActionError("An extension is 1 to 365 days.")
    if not EXTEND_TIMELINE.applies(export_request):
        raise RequestActionError("The timeline of this request has already ended.")
    export_request.extension_days += days
    export_request.extension_reason = "\n".join(
        filter(None, [export_request.extension_reason, reason.strip()])
    )
    try:
        export_request.full_clean()
    except ValidationError:
        raise RequestActionError("Extensions may add up to at most 365 days.") from None
    export_request.save(update_fields=["extension_days", "extension_reason", "updated_at"])
    record_event(
        export_request,
        actor=actor,
        action="request.extension_granted",
        from_status=export_request.status,
        note=reason,
        details={"days": days, "total_days": export_request.extension_days},
    )
    return export_request


def request_event_record(
    export_request: ExportRequest,
    *,
    actor: AbstractBaseUser | None,
    action: str,
    note: str = "",
    details: dict[str, Any] | None = None,
) -> RequestEvent:
    """Record something that happened to a request without changing its status (a source
    attached, a download, a reminder sent). Call inside the transaction that did it."""
    return record_event(
        export_request,
        actor=actor,
        action=action,
        from_status=export_request.status,
        note=note,
        details=details,
    )


# -- the pipeline's moves: exports calls these, never the state machine itself -------------------


@transaction.atomic
def export_request_start_extraction(
    *, export_request_id: int, actor: AbstractBaseUser, attempt: int
) -> ExportRequest:
    return transition_request(
        export_request_id,
        actor=actor,
        method="start_extraction",
        action="pipeline.started",
        details={"attempt": attempt},
    )


@transaction.atomic
def export_request_stop_pipeline(
    *, export_request_id: int, actor: AbstractBaseUser, reason: str
) -> ExportRequest:
    if not reason.strip():
        raise RequestActionError("Say why the export is stopped.")
    return transition_request(
        export_request_id,
        actor=actor,
        method="stop_pipeline",
        action="pipeline.stopped",
        note=reason,
    )


@transaction.atomic
def export_request_retry_pipeline(
    *, export_request_id: int, actor: AbstractBaseUser
) -> ExportRequest:
    return transition_request(
        export_request_id, actor=actor, method="retry", action="pipeline.retried"
    )


@transaction.atomic
def export_request_finish_extraction(
    *, export_request_id: int, patients: int, batches: int
) -> ExportRequest:
    return transition_request(
        export_request_id,
        actor=None,
        method="start_packaging",
        action="pipeline.extracted",
        details={"patients": patients, "batches": batches},
    )


@transaction.atomic
def export_request_finish_packaging(
    *, export_request_id: int, files: int, bytes: int, parts: int, records_failed: int
) -> ExportRequest:
    return transition_request(
        export_request_id,
        actor=None,
        method="finish_packaging",
        action="pipeline.packaged",
        details={"files": files, "bytes": bytes, "parts": parts, "records_failed": records_failed},
    )


@transaction.atomic
def export_request_approve_delivery(
    *, export_request_id: int, actor: AbstractBaseUser, records_failed: int
) -> ExportRequest:
    return transition_request(
        export_request_id,
        actor=actor,
        method="approve",
        action="pipeline.approved",
        details={"records_failed": records_failed},
    )


@transaction.atomic
def export_request_reject_export(
    *, export_request_id: int, actor: AbstractBaseUser, reason: str
) -> ExportRequest:
    if not reason.strip():
        raise RequestActionError("Say what is wrong with the export.")
    return transition_request(
        export_request_id, actor=actor, method="reject", action="pipeline.rejected", note=reason
    )


@transaction.atomic
def export_request_fail_stage(*, export_request_id: int, message: str) -> ExportRequest:
    """The running stage failed: the request shows it, with a message free of PHI."""
    return transition_request(
        export_request_id, actor=None, method="fail", action="pipeline.failed", note=message
    )


@transaction.atomic
def export_request_deliver(
    *, export_request_id: int, at: datetime, access_days: int, receipt: dict[str, Any]
) -> ExportRequest:
    """Delivered: the access window starts now; the upload's receipt is recorded with it."""
    delivered = transition_request(
        export_request_id,
        actor=None,
        method="deliver",
        action="pipeline.delivered",
        at=at,
        access_days=access_days,
    )
    record_event(
        delivered,
        actor=None,
        action="delivery.uploaded",
        from_status=Status.DELIVERED,
        details=receipt,
    )
    return delivered


@transaction.atomic
def export_request_expire(
    *, export_request_id: int, action: str, note: str, early: bool, at: datetime
) -> ExportRequest:
    """Access ended and the data is proven deleted: the request is closed."""
    return transition_request(
        export_request_id,
        actor=None,
        method="expire",
        action=action,
        note=note,
        details={"early": early},
        at=at,
    )
