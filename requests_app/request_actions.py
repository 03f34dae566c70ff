"""The request's own buttons, from filing to cancellation: the account manager's steps, the data
team's claim and release, holds, and an admin's extension. Registered in
``RequestsAppConfig.ready``, before any other app's."""

from __future__ import annotations

from . import forms, services
from .actions import RequestAction
from .permissions import transition_rule

ACTIONS: tuple[RequestAction, ...] = (
    RequestAction(
        slug="send-addendum",
        label="Mark the addendum sent",
        rule=transition_rule("send_addendum"),
        form_class=forms.NoteForm,
        perform=lambda r, user, data: services.export_request_send_addendum(
            export_request_id=r.pk, actor=user, note=data["note"]
        ),
        done="The addendum is marked sent.",
    ),
    RequestAction(
        slug="signed-addendum",
        label="Upload the signed addendum",
        rule=transition_rule("record_signature", "record_signature_completing"),
        form_class=forms.SignedAddendumForm,
        perform=lambda r, user, data: services.export_request_record_signed_addendum(
            export_request_id=r.pk, actor=user, signed_addendum=data["signed_addendum"]
        ),
        done="The signed addendum is recorded.",
    ),
    RequestAction(
        slug="fee",
        label="Record the fee",
        rule=transition_rule("record_fee", "record_fee_completing"),
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
        rule=transition_rule("claim"),
        form_class=forms.NoInputForm,
        perform=lambda r, user, data: services.export_request_claim(
            export_request_id=r.pk, actor=user
        ),
        done="You own this request now.",
    ),
    RequestAction(
        slug="release",
        label="Release back to the queue",
        rule=transition_rule("release"),
        form_class=forms.NoteForm,
        perform=lambda r, user, data: services.export_request_release(
            export_request_id=r.pk, actor=user, note=data["note"]
        ),
        done="The request is back in the ready queue.",
    ),
    RequestAction(
        slug="hold",
        label="Put on hold",
        rule=transition_rule("hold"),
        form_class=forms.ReasonForm,
        perform=lambda r, user, data: services.export_request_hold(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The request is on hold.",
    ),
    RequestAction(
        slug="resume",
        label="Resume",
        rule=transition_rule("resume"),
        form_class=forms.NoInputForm,
        perform=lambda r, user, data: services.export_request_resume(
            export_request_id=r.pk, actor=user
        ),
        done="The request is resumed.",
    ),
    RequestAction(
        slug="extend",
        label="Grant a timeline extension",
        rule=services.EXTEND_TIMELINE,
        form_class=forms.ExtensionForm,
        perform=lambda r, user, data: services.export_request_grant_extension(
            export_request_id=r.pk, actor=user, days=data["days"], reason=data["reason"]
        ),
        done="The extension is granted; both timeline marks moved.",
    ),
    RequestAction(
        slug="assign-owner",
        label="Assign the owner",
        rule=services.ASSIGN_OWNER,
        form_class=forms.AssignOwnerForm,
        perform=lambda r, user, data: services.export_request_assign_owner(
            export_request_id=r.pk, actor=user, owner=data["owner"], note=data["note"]
        ),
        done="The owner is assigned.",
    ),
    RequestAction(
        slug="cancel",
        label="Cancel the request",
        rule=transition_rule("cancel"),
        form_class=forms.ReasonForm,
        perform=lambda r, user, data: services.export_request_cancel(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The request is cancelled.",
        danger=True,
    ),
)
