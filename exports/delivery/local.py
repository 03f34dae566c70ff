"""Delivery into a folder on this machine (the one-machine default, and a staging hand-off).

Each request gets ``<root>/<request_ref>/``, readable by the service's own user only (0700,
files 0600). A part is copied to a hidden temporary name, read back and checked against its
SHA-256, and only then renamed into place, so a crash never leaves a half-copied part under its
real name. "Access" is the folder path; deletion removes the folder and checks it is gone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from .base import (
    AccessGrant,
    ArchiveFile,
    DeletionEvidence,
    DeletionStep,
    DeliveredFile,
    DeliveryBackend,
    DeliveryError,
    DeliveryReceipt,
    ProgressCallback,
    ProgressTracker,
    Verification,
    check_delivery_request,
    part_label,
    utc_now,
)

logger = logging.getLogger(__name__)

_COPY_BUFFER = 1024 * 1024
_PARTIAL_PREFIX = ".partial-"


class LocalFolderBackend(DeliveryBackend):
    """Delivers into ``root/<request_ref>/``; ``root`` is created if missing."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

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
        check_delivery_request(request_ref, parts, expires_at)
        folder = self._folder(request_ref)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask and ignored if it existed
        tracker = ProgressTracker(parts, progress)
        delivered = []
        for index, part in enumerate(parts):
            target = folder / part.path.name
            if _matches(target, part, tracker):
                logger.info("%s %s already delivered", request_ref, part_label(index, parts))
                tracker.advance(part.bytes)
            else:
                _copy_verified(part, target, f"{request_ref} {part_label(index, parts)}", tracker)
            delivered.append(
                DeliveredFile(
                    id=part.path.name,
                    name=part.path.name,
                    size=part.bytes,
                    sha1=part.sha1,
                    sha256=part.sha256,
                )
            )
        _remove_leftovers(folder, keep={part.path.name for part in parts})
        return DeliveryReceipt(
            backend=self.kind,
            request_ref=request_ref,
            location_id=str(folder),
            files=tuple(delivered),
            access=AccessGrant(recipient_email=recipient_email, local_path=str(folder)),
            delivered_at=utc_now(),
            expires_at=expires_at,
        )

    def verify(self, receipt: DeliveryReceipt) -> Verification:
        folder = Path(receipt.location_id)
        problems = []
        for number, delivered in enumerate(receipt.files, start=1):
            path = folder / delivered.name
            if not path.is_file():
                problems.append(f"file {number} is missing")
            elif path.stat().st_size != delivered.size or _sha256(path) != delivered.sha256:
                problems.append(f"file {number} has changed")
        return Verification(problems=tuple(problems))

    def revoke_and_delete(self, receipt: DeliveryReceipt) -> DeletionEvidence:
        started_at = utc_now()
        folder = self._folder(receipt.request_ref)
        if receipt.backend != self.kind or Path(receipt.location_id) != folder:
            raise DeliveryError(f"{receipt.request_ref}: the receipt is not for this delivery root")
        steps = []
        if folder.exists():
            file_count = sum(1 for _ in folder.iterdir())
            shutil.rmtree(folder)
            steps.append(
                DeletionStep(
                    action="delete_folder",
                    target=f"{folder} ({file_count} files)",
                    outcome="done",
                    at=utc_now(),
                )
            )
        else:
            steps.append(
                DeletionStep(
                    action="delete_folder",
                    target=str(folder),
                    outcome="already_absent",
                    at=utc_now(),
                )
            )
        if folder.exists():
            raise DeliveryError(f"{receipt.request_ref}: the delivery folder is still present")
        steps.append(
            DeletionStep(
                action="confirm_absent",
                target=str(folder),
                outcome="confirmed_absent",
                at=utc_now(),
            )
        )
        return DeletionEvidence(
            backend=self.kind,
            request_ref=receipt.request_ref,
            location_id=receipt.location_id,
            steps=tuple(steps),
            started_at=started_at,
            completed_at=utc_now(),
        )

    def _folder(self, request_ref: str) -> Path:
        return self.root / request_ref


def _matches(path: Path, part: ArchiveFile, tracker: ProgressTracker) -> bool:
    return (
        path.is_file()
        and path.stat().st_size == part.bytes
        and _sha256(path, tracker.keep_alive) == part.sha256
    )


def _copy_verified(part: ArchiveFile, target: Path, label: str, tracker: ProgressTracker) -> None:
    """Copy to a temporary name, check the copy's SHA-256 against the part's, then rename.
    Progress is reported per chunk, reading back included: a big part takes a while."""
    partial = target.with_name(_PARTIAL_PREFIX + target.name)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(part.path, "rb") as source, os.fdopen(descriptor, "wb") as copy:
            while chunk := source.read(_COPY_BUFFER):
                copy.write(chunk)
                tracker.advance(len(chunk))
            copy.flush()
            os.fsync(copy.fileno())
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DeliveryError(f"{label}: copying failed ({error.strerror})") from None
    if _sha256(partial, tracker.keep_alive) != part.sha256:
        partial.unlink()
        raise DeliveryError(f"{label}: the copy does not match the archive's SHA-256")
    os.replace(partial, target)


def _remove_leftovers(folder: Path, keep: set[str]) -> None:
    """Drop partial copies and parts of an earlier, different archive of the same request."""
    for entry in folder.iterdir():
        if entry.name not in keep:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _sha256(path: Path, after_each_chunk: Callable[[], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_COPY_BUFFER):
            digest.update(chunk)
            if after_each_chunk is not None:
                after_each_chunk()
    return digest.hexdigest()
