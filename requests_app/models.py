"""Export requests: a practice's ask for its data, tracked from filing to proven deletion."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from . import audit_chain, permissions
from .catalog import EXPORTABLE_CODES
from .text_rules import (
    REASON_MAX_LENGTH,
    REQUIREMENTS_MAX_LENGTH,
    long_text,
    single_line_text,
)
from .timeline import Timeline, TimelineState


class Practice(models.Model):
    name = models.CharField(max_length=200, validators=[single_line_text])
    ehr_practice_id = models.CharField(
        "practice id in the EHR", max_length=64, unique=True, validators=[single_line_text]
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="managed_practices"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_practice", "Manage this practice's export requests")]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    ADDENDUM_SENT = "addendum_sent", "Addendum sent"
    ADDENDUM_SIGNED = "addendum_signed", "Addendum signed, fee pending"
    FEE_COLLECTED = "fee_collected", "Fee collected, signature pending"
    READY = "ready", "Ready"
    CLAIMED = "claimed", "Claimed"
    EXTRACTING = "extracting", "Extracting"
    PACKAGING = "packaging", "Packaging"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    UPLOADING = "uploading", "Uploading"
    DELIVERED = "delivered", "Delivered"
    EXPIRED = "expired", "Expired, data deleted"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    ON_HOLD = "on_hold", "On hold"


S = Status
BEFORE_READY = [S.DRAFT, S.ADDENDUM_SENT, S.ADDENDUM_SIGNED, S.FEE_COLLECTED]
BEFORE_EXTRACTION = [*BEFORE_READY, S.READY, S.CLAIMED]
PIPELINE_STAGES = [S.EXTRACTING, S.PACKAGING, S.UPLOADING]
CLOSED = [S.EXPIRED, S.CANCELLED]


def _manages(instance: ExportRequest, user) -> bool:
    return permissions.can_manage_request(user, instance)


def _operates(instance: ExportRequest, user) -> bool:
    return permissions.can_operate_request(user, instance)


def _claims(instance: ExportRequest, user) -> bool:
    return permissions.can_claim_request(user, instance)


def _admin(instance: ExportRequest, user) -> bool:
    return permissions.is_admin(user)


def _manages_or_operates(instance: ExportRequest, user) -> bool:
    return _manages(instance, user) or _operates(instance, user)


def _system(instance: ExportRequest, user) -> bool:
    """Transitions the pipeline and scheduled tasks make; never offered as a button."""
    return user is None


FEE_CURRENCIES = [("USD", "USD"), ("CAD", "CAD")]


def _fee_amount_field() -> models.DecimalField:
    return models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100_000)],
    )


class ExportRequest(ConcurrentTransitionMixin, models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="export_requests")
    poc_name = models.CharField("point of contact", max_length=200, validators=[single_line_text])
    poc_email = models.EmailField("point of contact's email")
    poc_phone = models.CharField(
        "point of contact's phone", max_length=40, blank=True, validators=[single_line_text]
    )
    categories = models.JSONField(default=list, help_text="Exportable categories requested.")
    custom_requirements = models.TextField(
        blank=True,
        max_length=REQUIREMENTS_MAX_LENGTH,
        validators=long_text(REQUIREMENTS_MAX_LENGTH),
    )

    fee_amount = _fee_amount_field()  # as quoted at filing
    fee_currency = models.CharField(max_length=3, default="USD", choices=FEE_CURRENCIES)
    invoice_reference = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    fee_collected_at = models.DateTimeField(null=True, blank=True)
    # What was collected is kept beside the quote (``fee_amount``, ``fee_currency``), never
    # over it, so a difference between the two stays visible.
    fee_collected_amount = _fee_amount_field()
    fee_collected_currency = models.CharField(max_length=3, blank=True, choices=FEE_CURRENCIES)

    addendum_sent_at = models.DateTimeField(null=True, blank=True)
    signed_addendum = models.FileField(upload_to="addenda/%Y/%m/", blank=True)
    addendum_signed_at = models.DateTimeField(null=True, blank=True)

    status = FSMField(default=Status.DRAFT, choices=Status.choices, protected=True, db_index=True)
    status_before_hold = models.CharField(max_length=32, blank=True, choices=Status.choices)
    failed_stage = models.CharField(max_length=32, blank=True, choices=Status.choices)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_requests",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)

    ready_at = models.DateTimeField(
        null=True, blank=True, help_text="When the 4-8 week clock started."
    )
    extension_days = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(365)])
    extension_reason = models.TextField(
        blank=True, max_length=REASON_MAX_LENGTH, validators=long_text(REASON_MAX_LENGTH)
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="filed_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("operate_exportrequest", "Run the export pipeline for this request")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fee_amount__isnull=True) | models.Q(fee_amount__gte=0),
                name="fee_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_collected_amount__isnull=True)
                | models.Q(fee_collected_amount__gte=0),
                name="fee_collected_not_negative",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="claimed") | models.Q(claimed_by__isnull=False),
                name="claimed_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """A PHI-free name for the request, used in URLs, folders and emails."""
        return f"EXP-{self.pk:06d}" if self.pk else "EXP-new"

    @property
    def pipeline_running(self) -> bool:
        """The pipeline moves the request on by itself (extracting, packaging, uploading): its
        page follows it live. In any other status nothing changes until someone acts."""
        return self.status in PIPELINE_STAGES

    def full_clean(self, exclude=None, **kwargs) -> None:
        # The status changes only through transitions: cleaning must not re-assign it.
        super().full_clean(exclude={*(exclude or ()), "status"}, **kwargs)

    def clean(self) -> None:
        unknown = set(self.categories) - set(EXPORTABLE_CODES)
        if unknown or not self.categories:
            raise ValidationError(
                {"categories": "Choose one or more of the exportable categories."}
            )

    # -- the timeline -------------------------------------------------------------------------

    @property
    def timeline(self) -> Timeline:
        stopped = (
            self.delivered_at
            if self.delivered_at
            else (self.closed_at if self.status == S.CANCELLED else None)
        )
        return Timeline(
            ready_at=self.ready_at,
            extension=timedelta(days=self.extension_days),
            stopped_at=stopped,
            delivered=self.delivered_at is not None,
        )

    def timeline_state(self, now=None) -> TimelineState:
        return self.timeline.state(now or timezone.now())

    # -- the state machine: state changes only; services record events and side effects --------

    @transition(field=status, source=S.DRAFT, target=S.ADDENDUM_SENT, permission=_manages)
    def send_addendum(self, *, at) -> None:
        self.addendum_sent_at = at

    @transition(field=status, source=S.ADDENDUM_SENT, target=S.ADDENDUM_SIGNED, permission=_manages)
    def record_signature(self, *, at) -> None:
        self.addendum_signed_at = at

    @transition(field=status, source=S.FEE_COLLECTED, target=S.READY, permission=_manages)
    def record_signature_completing(self, *, at) -> None:
        self.addendum_signed_at = at
        self.ready_at = at

    @transition(field=status, source=S.ADDENDUM_SENT, target=S.FEE_COLLECTED, permission=_manages)
    def record_fee(self, *, at) -> None:
        self.fee_collected_at = at

    @transition(field=status, source=S.ADDENDUM_SIGNED, target=S.READY, permission=_manages)
    def record_fee_completing(self, *, at) -> None:
        self.fee_collected_at = at
        self.ready_at = at

    @transition(field=status, source=S.READY, target=S.CLAIMED, permission=_claims)
    def claim(self, *, by, at) -> None:
        self.claimed_by = by
        self.claimed_at = at

    @transition(field=status, source=S.CLAIMED, target=S.READY, permission=_operates)
    def release(self) -> None:
        self.claimed_by = None
        self.claimed_at = None

    @transition(field=status, source=S.CLAIMED, target=S.EXTRACTING, permission=_operates)
    def start_extraction(self) -> None:
        pass

    @transition(field=status, source=S.EXTRACTING, target=S.PACKAGING, permission=_system)
    def start_packaging(self) -> None:
        pass

    @transition(field=status, source=S.PACKAGING, target=S.AWAITING_REVIEW, permission=_system)
    def finish_packaging(self) -> None:
        pass

    @transition(field=status, source=S.AWAITING_REVIEW, target=S.UPLOADING, permission=_operates)
    def approve(self) -> None:
        pass

    @transition(field=status, source=S.AWAITING_REVIEW, target=S.CLAIMED, permission=_operates)
    def reject(self) -> None:
        pass

    @transition(field=status, source=S.UPLOADING, target=S.DELIVERED, permission=_system)
    def deliver(self, *, at, access_days: int) -> None:
        self.delivered_at = at
        self.access_expires_at = at + timedelta(days=access_days)

    @transition(field=status, source=PIPELINE_STAGES, target=S.FAILED, permission=_system)
    def fail(self) -> None:
        self.failed_stage = self.status

    @transition(
        field=status, source=S.FAILED, target=RETURN_VALUE(*PIPELINE_STAGES), permission=_operates
    )
    def retry(self) -> str:
        """Back into the stage that failed; the pipeline resumes it without redoing done work."""
        stage, self.failed_stage = self.failed_stage, ""
        return stage

    @transition(
        field=status,
        source=[S.EXTRACTING, S.PACKAGING, S.AWAITING_REVIEW, S.FAILED],
        target=S.CLAIMED,
        permission=_operates,
    )
    def stop_pipeline(self) -> None:
        """Stop the running attempt and discard its work; the request can be run again."""
        self.failed_stage = ""

    @transition(field=status, source=S.DELIVERED, target=S.EXPIRED, permission=_system)
    def expire(self, *, at) -> None:
        self.deleted_at = at
        self.closed_at = at

    @transition(field=status, source=BEFORE_EXTRACTION, target=S.CANCELLED, permission=_manages)
    def cancel(self, *, at) -> None:
        self.claimed_by = None
        self.closed_at = at

    @transition(
        field=status, source=BEFORE_EXTRACTION, target=S.ON_HOLD, permission=_manages_or_operates
    )
    def hold(self) -> None:
        self.status_before_hold = self.status

    @transition(
        field=status,
        source=S.ON_HOLD,
        target=RETURN_VALUE(*BEFORE_EXTRACTION),
        permission=_manages_or_operates,
    )
    def resume(self) -> str:
        previous, self.status_before_hold = self.status_before_hold, ""
        return previous


class AppendOnlyError(Exception):
    """Events are evidence: they are never changed or deleted."""


class RequestEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Request events cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Request events cannot be deleted.")

    def bulk_create(self, objs, *args, **kwargs):
        raise AppendOnlyError("Request events are added one at a time, each linked to the last.")

    def bulk_update(self, objs, *args, **kwargs):
        raise AppendOnlyError("Request events cannot be changed.")


class AuditChainHead(models.Model):
    """The one row that holds the newest event's hash. Recording an event locks it, so events
    join the chain one at a time and two cannot claim the same predecessor."""

    SINGLETON = 1

    last_event_id = models.BigIntegerField(null=True, blank=True)
    last_hash = models.CharField(max_length=64, default=audit_chain.GENESIS_HASH)

    def __str__(self) -> str:
        return f"audit chain head at event {self.last_event_id}"

    @classmethod
    def locked(cls) -> AuditChainHead:
        """The head, row-locked until the surrounding transaction ends (call inside one)."""
        head = cls.objects.select_for_update().filter(pk=cls.SINGLETON).first()
        if head is None:  # the migration creates it; a flushed database (tests) has none
            cls.objects.get_or_create(pk=cls.SINGLETON)
            head = cls.objects.select_for_update().get(pk=cls.SINGLETON)
        return head


class RequestEvent(models.Model):
    """One thing that happened to a request: who, what (a dotted code), from and to, when, why."""

    # None for events about the portal rather than one request (admin corrections of
    # practices, users and roles).
    request = models.ForeignKey(
        ExportRequest, on_delete=models.PROTECT, related_name="events", null=True, blank=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    from_status = models.CharField(max_length=32, blank=True, choices=Status.choices)
    to_status = models.CharField(max_length=32, blank=True, choices=Status.choices)
    note = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The hash chain (audit_chain.py): unique links mean the chain cannot fork.
    previous_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    key_id = models.CharField(max_length=16, editable=False)  # which AUDIT_CHAIN_KEYS key signed

    objects = RequestEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on request {self.request_id}" if self.request_id else self.action

    def save(self, *args, **kwargs) -> None:
        """Record the event as the chain's new last link, under the chain head's row lock."""
        if self.pk is not None:
            raise AppendOnlyError("Request events cannot be changed.")
        with transaction.atomic():
            head = AuditChainHead.locked()
            audit_chain.sign_event(self, head.last_hash)
            super().save(*args, **kwargs)
            head.last_event_id, head.last_hash = self.pk, self.hash
            head.save(update_fields=["last_event_id", "last_hash"])

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Request events cannot be deleted.")

    @property
    def actor_label(self) -> str:
        if self.actor is None:
            return "Export Portal"
        return self.actor.get_full_name() or self.actor.get_username()
