"""The handoff card on a delivered request's page: the access window, the password reveal,
early deletion for admins, and once access has ended, the proof of deletion.

Who is offered what comes from the rules the services enforce (``lifecycle.REVEAL_PASSWORDS``,
``lifecycle.DELETE_EARLY``), so the card never offers a step the service would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from exports import lifecycle
from exports.delivery.base import DeletionEvidence, DeletionStep
from exports.selectors import delivered_job
from requests_app.models import ExportRequest, Status
from requests_app.selectors import latest_event

#: what each deletion step did, in words
STEP_WORDS = {
    "revoke_collaboration": "Point of contact's access on Box revoked",
    "delete_folder": "Delivered folder deleted",
    "purge_folder_from_trash": "Deleted folder purged from Box's trash",
    "confirm_folder_absent": "Delivered folder checked: gone",
    "confirm_trash_purged": "Box's trash checked: purged",
    "confirm_absent": "Delivered folder checked: gone",
    "delete_local_copy": "Local copy deleted",
    "confirm_local_copy_absent": "Local copy checked: gone",
}
OUTCOME_WORDS = {
    "done": "done",
    "already_absent": "already gone",
    lifecycle.CONFIRMED_ABSENT: "confirmed absent",
}


@dataclass(frozen=True)
class DeletionStepTold:
    what: str
    target: str
    outcome: str
    at: datetime


@dataclass(frozen=True)
class DeletionProof:
    """The deletion as recorded in the request's (chained) history."""

    backend: str
    location_id: str
    started_at: datetime
    completed_at: datetime
    steps: list[DeletionStepTold]
    early: bool
    reason: str  # the admin's, when deleted early


@dataclass(frozen=True)
class HandoffStep:
    slug: str
    label: str


def handoff_steps(user, export_request: ExportRequest) -> list[HandoffStep]:
    """The handoff card's steps this user may take now; "Next steps" names the same ones."""
    if export_request.status != Status.DELIVERED:
        return []
    steps = []
    if lifecycle.REVEAL_PASSWORDS.allows(user, export_request):
        steps.append(HandoffStep("reveal-passwords", "Show the archive password"))
    if lifecycle.DELETE_EARLY.allows(user, export_request):
        steps.append(HandoffStep("delete-early", "End access and delete now"))
    return steps


def handoff_context(user, export_request: ExportRequest, now: datetime | None = None) -> dict:
    """The card's context; empty (no card) before delivery."""
    now = now or timezone.now()
    if export_request.status == Status.DELIVERED:
        job = delivered_job(export_request)
        if job is None:
            return {}
        early = latest_event(export_request, [lifecycle.EARLY_DELETION])
        offered = {step.slug for step in handoff_steps(user, export_request)}
        return {
            "r": export_request,
            "job": job,
            "access": (job.delivery_receipt or {}).get("access", {}),
            "days_left": lifecycle.days_left(export_request.access_expires_at, now),
            "early_deletion": early,
            "may_reveal": "reveal-passwords" in offered,
            "may_delete_early": "delete-early" in offered,
        }
    if export_request.status == Status.EXPIRED:
        return {"r": export_request, "proof": deletion_proof(export_request)}
    return {}


def deletion_proof(export_request: ExportRequest) -> DeletionProof | None:
    """What was deleted, where, when, and each check that found it gone; None when the history
    holds no completed deletion."""
    completed = latest_event(export_request, [lifecycle.DELETION_COMPLETED])
    if completed is None:
        return None
    evidence = DeletionEvidence.from_dict(completed.details)
    early = latest_event(export_request, [lifecycle.EARLY_DELETION])
    return DeletionProof(
        backend=_BACKENDS.get(evidence.backend, evidence.backend),
        location_id=evidence.location_id,
        started_at=evidence.started_at,
        completed_at=evidence.completed_at,
        steps=[_told(step) for step in evidence.steps],
        early=early is not None,
        reason=early.note if early is not None else "",
    )


_BACKENDS = {"box": "Box", "local": "the local delivery folder"}


def _told(step: DeletionStep) -> DeletionStepTold:
    return DeletionStepTold(
        what=STEP_WORDS.get(step.action, step.action.replace("_", " ").capitalize()),
        target=step.target,
        outcome=OUTCOME_WORDS.get(step.outcome, step.outcome.replace("_", " ")),
        at=step.at,
    )
