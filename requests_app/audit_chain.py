"""The request events' hash chain: each event holds the SHA-256 of the one before it (in id
order, across all requests) and its own SHA-256 over a canonical JSON of its fields plus that
link. Changing, removing or inserting a row breaks the chain at that row, and
``verify_chain`` names the first broken link.

The digest's definition is part of the evidence: changing it makes every stored hash
unverifiable, so it never changes (a new scheme would need a version field).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.apps import apps

if TYPE_CHECKING:
    from .models import RequestEvent

GENESIS_HASH = "0" * 64  # what the first event links to


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_digest(event: RequestEvent, previous_hash: str) -> str:
    """SHA-256 (hex) of the event's fields and the previous event's hash, canonically encoded."""
    fields = {
        "request": event.request_id,
        "actor": event.actor_id,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        # As stored: the JSON column gives back what json makes of the value.
        "details": json.loads(json.dumps(event.details)),
        "created_at": _timestamp(event.created_at),
        "previous_hash": previous_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain does not hold, and what is wrong there."""

    event_id: int | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain() -> ChainReport:
    """Walk every event in id order (streamed) and report the first broken link, if any."""
    # By name from the app registry: models import this module, so this one does not import them.
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    AuditChainHead = apps.get_model("requests_app", "AuditChainHead")

    expected_previous, checked = GENESIS_HASH, 0
    events = RequestEvent.objects.order_by("id").iterator(chunk_size=2000)
    for event in events:
        checked += 1
        if event.previous_hash != expected_previous:
            return ChainReport(
                checked,
                ChainBreak(
                    event.pk,
                    "does not link to the event before it: an earlier event was removed, "
                    "inserted or re-hashed",
                ),
            )
        if event_digest(event, event.previous_hash) != event.hash:
            return ChainReport(
                checked, ChainBreak(event.pk, "its recorded contents were changed after the fact")
            )
        expected_previous = event.hash
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON).first()
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_hash != expected_previous:
        return ChainReport(
            checked,
            ChainBreak(
                head.last_event_id if head else None,
                "the newest recorded events are missing: the chain ends before its head",
            ),
        )
    return ChainReport(checked, None)
