"""The delivery interface: hand finished archive files to the customer, later take them back.

A backend puts the parts of one request's encrypted archive somewhere the practice's point of
contact can fetch them, grants that person access, and records what it did in a
``DeliveryReceipt``. When access expires, ``revoke_and_delete`` removes access and data and
returns ``DeletionEvidence``. Both are plain JSON-serialisable data the request keeps for the
delivery and deletion audit.

Both operations are idempotent: calling ``deliver`` again after a crash reuses what is already
there (the folder, files with the same digest, the grant), and deleting what is already gone
counts as done, with the evidence saying so.

Nothing here carries PHI: folders are named by the request reference ("EXP-000123"), errors
name the request reference and the part number, never a file name.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

#: called with (bytes delivered so far, bytes to deliver in all), like the archive step's callback
ProgressCallback = Callable[[int, int], None]

_REQUEST_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class DeliveryError(Exception):
    """Delivery or deletion cannot go on. Messages name request refs, part numbers and ids only."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (the service throttled, failed or did not answer): nothing is lost,
    calling the same operation again resumes it."""


class ArchiveFile(Protocol):
    """One finished archive part on local or staging storage, with the digests the archive
    step computed (hex SHA-256 for our manifest, hex SHA-1 because Box checks uploads with it).
    ``exports.archive.ArchivePart`` is one."""

    @property
    def path(self) -> Path: ...

    @property
    def bytes(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    @property
    def sha1(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DeliveredFile:
    """One part as the destination holds it."""

    id: str
    name: str
    size: int
    sha1: str
    sha256: str


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """How the point of contact reaches the files.

    A backend fills in what it grants: a Box collaboration and/or shared link, or a local path.
    ``shared_link_refusal`` records why Box refused a shared link (its error code), in which
    case the collaboration alone carries access.
    """

    recipient_email: str
    local_path: str | None = None
    collaboration_id: str | None = None
    collaboration_role: str | None = None
    collaboration_status: str | None = None
    collaboration_expires_at: datetime | None = None
    shared_link_url: str | None = None
    shared_link_expires_at: datetime | None = None
    shared_link_password_protected: bool = False
    shared_link_refusal: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What was delivered where, and who may fetch it until when."""

    backend: str
    request_ref: str
    #: the Box folder id, or the local folder path
    location_id: str
    files: tuple[DeliveredFile, ...]
    access: AccessGrant
    delivered_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryReceipt:
        access = dict(data["access"])
        for key in ("collaboration_expires_at", "shared_link_expires_at"):
            access[key] = _parse_time(access.get(key))
        return cls(
            backend=data["backend"],
            request_ref=data["request_ref"],
            location_id=data["location_id"],
            files=tuple(DeliveredFile(**item) for item in data["files"]),
            access=AccessGrant(**access),
            delivered_at=_parse_time(data["delivered_at"]),
            expires_at=_parse_time(data["expires_at"]),
        )


@dataclass(frozen=True, slots=True)
class DeletionStep:
    """One thing done (or found already done) while revoking and deleting.

    ``outcome`` is "done" when this call did it, "already_absent" when there was nothing left to
    do (a 404 from Box, a path that no longer exists), "confirmed_absent" for the final checks.
    """

    action: str
    target: str
    outcome: str
    at: datetime
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class DeletionEvidence:
    """Proof that access was revoked and the data deleted, step by step."""

    backend: str
    request_ref: str
    location_id: str
    steps: tuple[DeletionStep, ...]
    started_at: datetime
    completed_at: datetime

    @property
    def already_deleted(self) -> bool:
        """True when an earlier call had already removed everything."""
        return all(step.outcome != "done" for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeletionEvidence:
        return cls(
            backend=data["backend"],
            request_ref=data["request_ref"],
            location_id=data["location_id"],
            steps=tuple(
                DeletionStep(**{**step, "at": _parse_time(step["at"])}) for step in data["steps"]
            ),
            started_at=_parse_time(data["started_at"]),
            completed_at=_parse_time(data["completed_at"]),
        )


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether a delivery is still intact where the receipt says it is."""

    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


class DeliveryBackend(abc.ABC):
    """Somewhere an export is handed over: a local folder, Box, ..."""

    #: the receipt's ``backend`` value, e.g. "local" or "box"
    kind: str

    @abc.abstractmethod
    def deliver(
        self,
        request_ref: str,
        parts: Sequence[ArchiveFile],
        *,
        recipient_email: str,
        expires_at: datetime,
        progress: ProgressCallback | None = None,
        shared_link_password: str | None = None,
    ) -> DeliveryReceipt:
        """Put every part in the request's own location and give the recipient access until
        ``expires_at``. Safe to call again after a failure: finished work is reused.

        ``shared_link_password`` (backends with links only) protects a shared link; without it
        no link is made. It is a secret the caller keeps: it never appears in the receipt.
        """

    @abc.abstractmethod
    def verify(self, receipt: DeliveryReceipt) -> Verification:
        """Check that every delivered file is still there, unchanged."""

    @abc.abstractmethod
    def revoke_and_delete(self, receipt: DeliveryReceipt) -> DeletionEvidence:
        """Remove the recipient's access and the data, and prove both. Safe to call twice."""


def check_delivery_request(
    request_ref: str, parts: Sequence[ArchiveFile], expires_at: datetime
) -> None:
    """Reject what no backend can deliver, before anything is written."""
    if not _REQUEST_REF.fullmatch(request_ref):
        raise DeliveryError(
            "the request reference must be 1-64 letters, digits, '-' or '_' (it names a folder)"
        )
    if not parts:
        raise DeliveryError(f"{request_ref}: there are no archive parts to deliver")
    if len({part.path.name.casefold() for part in parts}) != len(parts):
        raise DeliveryError(f"{request_ref}: two archive parts share a file name")
    if expires_at.tzinfo is None:
        raise DeliveryError(f"{request_ref}: the access expiry must be timezone-aware")


def part_label(index: int, parts: Sequence[ArchiveFile]) -> str:
    """How errors and logs name a part without its file name: "part 2 of 3"."""
    return f"part {index + 1} of {len(parts)}"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ProgressTracker:
    """Adds up delivered bytes across all parts and reports them to an optional callback."""

    def __init__(self, parts: Sequence[ArchiveFile], callback: ProgressCallback | None) -> None:
        self.total = sum(part.bytes for part in parts)
        self.done = 0
        self._callback = callback
        self._report()

    def advance(self, byte_count: int) -> None:
        self.done += byte_count
        self._report()

    def keep_alive(self) -> None:
        """Report the same count again: work goes on that adds no bytes (reading a copy back)."""
        self._report()

    def rewind_to(self, done: int) -> None:
        """Go back to an earlier count, when work has to be redone."""
        self.done = done
        self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _parse_time(value: str | None) -> Any:
    return None if value is None else datetime.fromisoformat(value)
