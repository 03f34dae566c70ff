"""The request events' keyed hash chain, and its verification against checkpoints.

Each event holds the MAC of the one before it (in id order, across all requests) and its own
HMAC-SHA256 over a canonical JSON of its fields plus that link. The key is not in the database
(``AUDIT_CHAIN_KEYS``, newest first), so write access to the database alone cannot re-sign a
rewritten trail: changing, removing or inserting a row breaks the chain at that row, and
``verify_chain`` names the first broken link. Removing the newest events and moving the head
back leaves a chain that holds on its own; the checkpoints of the head kept outside the
database (``audit_checkpoints``) reveal that.

Rotation: every event records the id of the key that signed it. Put a new key first and keep
the old ones after it; new events and checkpoints are signed with the new key, and any listed
key verifies what it signed. A key dropped from the list makes its events unverifiable, so
keep old keys for as long as their events are evidence.

The digest's definition is part of the evidence: changing it makes every stored MAC
unverifiable, so it never changes (a new scheme would need a version field).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings

if TYPE_CHECKING:
    from .models import RequestEvent

GENESIS_HASH = "0" * 64  # what the first event links to


def key_id(key: str) -> str:
    """A short public name for a key, stored with what it signs (reveals nothing of the key)."""
    return hashlib.sha256(b"export-portal-audit-key-id:" + key.encode()).hexdigest()[:16]


def _keys() -> dict[str, bytes]:
    """The configured keys by id, newest first."""
    return {key_id(key): key.encode() for key in settings.AUDIT_CHAIN_KEYS}


def signing_key_id() -> str:
    return key_id(settings.AUDIT_CHAIN_KEYS[0])


def _mac(key_identifier: str, fields: dict[str, Any]) -> str | None:
    """HMAC-SHA256 (hex) of the fields' canonical JSON; None when the key is not configured."""
    key = _keys().get(key_identifier)
    if key is None:
        return None
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_digest(event: RequestEvent, previous_hash: str) -> str | None:
    """The MAC of the event's fields and the previous event's hash, with the key the event
    names; None when that key is not configured."""
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
        "key_id": event.key_id,
    }
    return _mac(event.key_id, fields)


def sign_event(event: RequestEvent, previous_hash: str) -> None:
    """Link the event to ``previous_hash`` and sign it with the newest key."""
    event.previous_hash, event.key_id = previous_hash, signing_key_id()
    event.hash = event_digest(event, previous_hash)


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment, kept outside the database: how many events it held, the
    newest one's id and hash, and a MAC over all that with a key the database does not hold."""

    events: int
    last_event_id: int | None
    head_hash: str
    at: str  # ISO 8601, UTC
    key_id: str
    mac: str = ""

    def _signed_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["mac"]
        return fields

    @classmethod
    def signed(cls, *, events: int, last_event_id: int | None, head_hash: str) -> Checkpoint:
        unsigned = cls(
            events=events,
            last_event_id=last_event_id,
            head_hash=head_hash,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            key_id=signing_key_id(),
        )
        return replace(unsigned, mac=_mac(unsigned.key_id, unsigned._signed_fields()))

    @property
    def authentic(self) -> bool:
        expected = _mac(self.key_id, self._signed_fields())
        return expected is not None and hmac.compare_digest(expected, self.mac)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain does not hold (None: at its head or in the
    checkpoints), and what is wrong there."""

    event_id: int | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    first_break: ChainBreak | None
    checkpoints_checked: int = 0
    newest_checkpoint_at: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


class _Broken(Exception):
    def __init__(self, event_id: int | None, reason: str) -> None:
        super().__init__(reason)
        self.chain_break = ChainBreak(event_id, reason)


class _CheckpointCursor:
    """Walks the checkpoints (in the order written, so by growing count) beside the events."""

    def __init__(self, checkpoints: Iterable[Checkpoint | str]) -> None:
        self._pending: Iterator[Checkpoint | str] = iter(checkpoints)
        self.checked, self.newest_at, self._events = 0, None, 0
        self.current: Checkpoint | None = None

    def start(self) -> None:
        self.current = self._next()

    def _next(self) -> Checkpoint | None:
        checkpoint = next(self._pending, None)
        if isinstance(checkpoint, str):  # a line that could not be read as a checkpoint
            raise _Broken(None, f"{checkpoint}: the checkpoints were edited")
        if checkpoint is None:
            return None
        if not checkpoint.authentic:
            raise _Broken(
                None,
                f"the checkpoint of {checkpoint.at} is not signed by a configured key: "
                "the checkpoints were edited (or its key was dropped)",
            )
        if checkpoint.events < self._events:
            raise _Broken(
                None,
                f"the checkpoint of {checkpoint.at} counts fewer events than the one before it: "
                "events were removed between them",
            )
        self._events, self.newest_at = checkpoint.events, checkpoint.at
        self.checked += 1
        return checkpoint

    def pass_event(self, position: int, event_id: int | None, event_hash: str) -> None:
        """Compare every checkpoint taken when the chain held ``position`` events."""
        while self.current is not None and self.current.events == position:
            if (self.current.last_event_id, self.current.head_hash) != (event_id, event_hash):
                raise _Broken(
                    event_id,
                    f"differs from the checkpoint of {self.current.at}: the events up to it "
                    "were rewritten",
                )
            self.current = self._next()

    def finish(self, events: int) -> None:
        if self.current is not None:
            raise _Broken(
                None,
                f"the checkpoint of {self.current.at} counted {self.current.events} events; "
                f"the database holds {events}: the newest recorded events were removed",
            )


def verify_chain(checkpoints: Iterable[Checkpoint | str] = ()) -> ChainReport:
    """Walk every event in id order (streamed), checking each link and MAC and comparing the
    checkpoints as their count is reached; report the first break, if any. A ``str`` among the
    checkpoints is a line that could not be read, and breaks the verification."""
    # By name from the app registry: models import this module, so this one does not import them.
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    AuditChainHead = apps.get_model("requests_app", "AuditChainHead")

    checked, first_break, cursor = 0, None, _CheckpointCursor(checkpoints)
    try:
        cursor.start()
        expected_previous = GENESIS_HASH
        cursor.pass_event(0, None, GENESIS_HASH)
        for event in RequestEvent.objects.order_by("id").iterator(chunk_size=2000):
            checked += 1
            _check_event(event, expected_previous)
            expected_previous = event.hash
            cursor.pass_event(checked, event.pk, event.hash)
        head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON).first()
        if (head.last_hash if head else GENESIS_HASH) != expected_previous:
            raise _Broken(
                head.last_event_id if head else None,
                "the newest recorded events are missing: the chain ends before its head",
            )
        cursor.finish(checked)
    except _Broken as broken:
        first_break = broken.chain_break
    return ChainReport(checked, first_break, cursor.checked, cursor.newest_at)


def _check_event(event: RequestEvent, expected_previous: str) -> None:
    if event.previous_hash != expected_previous:
        raise _Broken(
            event.pk,
            "does not link to the event before it: an earlier event was removed, "
            "inserted or re-hashed",
        )
    digest = event_digest(event, event.previous_hash)
    if digest is None:
        raise _Broken(
            event.pk,
            f"is signed with a key that is not configured (key id {event.key_id or 'none'}): "
            "it was forged, or its key was dropped from AUDIT_CHAIN_KEYS",
        )
    if not hmac.compare_digest(digest, event.hash):
        raise _Broken(event.pk, "its recorded contents were changed after the fact")
