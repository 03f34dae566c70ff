"""The buttons on a request page: who may press each, when it applies, and which service it calls.

A view offers an action when the person holds the right (``may``) and the request is in a state
where the step applies (``applies``). Pressing it always goes through the service, which checks
both again under a row lock: the page may be stale, the service never is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms as django_forms
from django.contrib.auth.models import AbstractBaseUser
from django_fsm import can_proceed

from . import forms, permissions, services
from .models import ExportRequest, Status

Perform = Callable[[ExportRequest, AbstractBaseUser, dict[str, Any]], ExportRequest]


@dataclass(frozen=True)
class RequestAction:
    slug: str
    label: str
    may: Callable[[AbstractBaseUser, ExportRequest], bool]
    applies: Callable[[ExportRequest], bool]
    form_class: type[django_forms.Form]
    perform: Perform
    done: str
    danger: bool = False

    def form(self, *args, **kwargs) -> django_forms.Form:
        return self.form_class(*args, prefix=self.slug, **kwargs)


def _any_transition(*methods: str) -> Callable[[ExportRequest], bool]:
    def applies(export_request: ExportRequest) -> bool:
        return any(can_proceed(getattr(export_request, method)) for method in methods)

    return applies


def _manages_or_operates(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    return permissions.can_manage_request(user, export_request) or permissions.can_operate_request(
        user, export_request
    )


def _timeline_open(export_request: ExportRequest) -> bool:
    return export_request.status not in (Status.DELIVERED, Status.EXPIRED, Status.CANCELLED)


def _admin(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    return permissions.is_admin(user)


ACTIONS: tuple[RequestAction, ...] = (
    RequestAction(
        slug="send-addendum",
        label="Mark the addendum sent",
        may=permissions.can_manage_request,
        applies=_any_transition("send_addendum"),
        form_class=forms.NoteForm,
        perform=lambda r, user, data: services.export_request_send_addendum(
            export_request_id=r.pk, actor=user, note=data["note"]
        ),
        done="The addendum is marked sent.",
    ),
    RequestAction(
        slug="signed-addendum",
        label="Upload the signed addendum",
        may=permissions.can_manage_request,
        applies=_any_transition("record_signature", "record_signature_completing"),
        form_class=forms.SignedAddendumForm,
        perform=lambda r, user, data: services.export_request_record_signed_addendum(
            export_request_id=r.pk, actor=user, signed_addendum=data["signed_addendum"]
        ),
        done="The signed addendum is recorded.",
    ),
    RequestAction(
        slug="fee",
        label="Record the fee",
        may=permissions.can_manage_request,
        applies=_any_transition("record_fee", "record_fee_completing"),
        form_class=forms.FeeForm,
        perform=lambda r, user, data: services.export_request_record_fee(
            export_request_id=r.pk,
            actor=user,
            amount=data["amount"],
            currency=data["currency"],
            invoice_reference=data["invoice_reference"],
        ),
        done="The fee is recorded.",
    ),
    RequestAction(
        slug="claim",
        label="Claim",
        may=permissions.can_claim_request,
        applies=_any_transition("claim"),
        form_class=forms.NoInputForm,
        perform=lambda r, user, data: services.export_request_claim(
            export_request_id=r.pk, actor=user
        ),
        done="You own this request now.",
    ),
    RequestAction(
        slug="release",
        label="Release back to the queue",
        may=permissions.can_operate_request,
        applies=_any_transition("release"),
        form_class=forms.NoteForm,
        perform=lambda r, user, data: services.export_request_release(
            export_request_id=r.pk, actor=user, note=data["note"]
        ),
        done="The request is back in the ready queue.",
    ),
    RequestAction(
        slug="hold",
        label="Put on hold",
        may=_manages_or_operates,
        applies=_any_transition("hold"),
        form_class=forms.ReasonForm,
        perform=lambda r, user, data: services.export_request_hold(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The request is on hold.",
    ),
    RequestAction(
        slug="resume",
        label="Resume",
        may=_manages_or_operates,
        applies=_any_transition("resume"),
        form_class=forms.NoInputForm,
        perform=lambda r, user, data: services.export_request_resume(
            export_request_id=r.pk, actor=user
        ),
        done="The request is resumed.",
    ),
    RequestAction(
        slug="extend",
        label="Grant a timeline extension",
        may=_admin,
        applies=_timeline_open,
        form_class=forms.ExtensionForm,
        perform=lambda r, user, data: services.export_request_grant_extension(
            export_request_id=r.pk, actor=user, days=data["days"], reason=data["reason"]
        ),
        done="The extension is granted; both timeline marks moved.",
    ),
    RequestAction(
        slug="cancel",
        label="Cancel the request",
        may=permissions.can_manage_request,
        applies=_any_transition("cancel"),
        form_class=forms.ReasonForm,
        perform=lambda r, user, data: services.export_request_cancel(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The request is cancelled.",
        danger=True,
    ),
)

ACTIONS_BY_SLUG = {action.slug: action for action in ACTIONS}


def register(*actions: RequestAction) -> None:
    """Another app's buttons (the pipeline's), posted through the same checked view."""
    for action in actions:
        if action.slug in ACTIONS_BY_SLUG:
            raise ValueError(f"two request actions are called {action.slug!r}")
        ACTIONS_BY_SLUG[action.slug] = action


def available_to(user: AbstractBaseUser, export_request: ExportRequest) -> list[RequestAction]:
    """The steps this person can take on this request now, in lifecycle order."""
    return [a for a in ACTIONS if a.applies(export_request) and a.may(user, export_request)]
