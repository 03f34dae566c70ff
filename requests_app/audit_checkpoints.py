"""Checkpoints of the audit chain's head, written outside the database and read back to verify.

Every ``AUDIT_CHECKPOINT_MINUTES`` (beat) the head (event count, newest id and hash, time) is
signed with the audit key, logged (the JSON log carries it as ``audit_checkpoint``) and
appended as one JSON line to ``AUDIT_CHECKPOINT_FILE``, fsynced. Verification compares the
database's chain with every checkpoint: events removed or rewritten up to the newest checkpoint
are found even when the database's own head was moved back with them.

``verify_audit_chain --checkpoints FILE`` reads any copy (lines taken from the JSON log work
too), for when the file on this host is not the one to trust.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from .audit_chain import GENESIS_HASH, ChainReport, Checkpoint, verify_chain

logger = logging.getLogger(__name__)

_FIELD_TYPES = {
    "events": int,
    "last_event_id": (int, type(None)),
    "head_hash": str,
    "at": str,
    "key_id": str,
    "mac": str,
}


def take_checkpoint() -> Checkpoint:
    """The committed head now. Events only ever join after it, with larger ids, so counting
    up to its event gives the head's own count whatever commits meanwhile."""
    from .models import AuditChainHead, RequestEvent

    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON).first()
    if head is None or head.last_event_id is None:
        return Checkpoint.signed(events=0, last_event_id=None, head_hash=GENESIS_HASH)
    count = RequestEvent.objects.filter(id__lte=head.last_event_id).count()
    return Checkpoint.signed(
        events=count, last_event_id=head.last_event_id, head_hash=head.last_hash
    )


def write_checkpoint(path: Path | None = None) -> Checkpoint:
    """Take a checkpoint, log it, and append it to the checkpoint file (fsynced)."""
    checkpoint = take_checkpoint()
    logger.info(
        "audit chain checkpoint: %s events, head event %s, hash %s",
        checkpoint.events,
        checkpoint.last_event_id,
        checkpoint.head_hash,
        extra={"audit_checkpoint": checkpoint.as_dict()},
    )
    path = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = json.dumps(checkpoint.as_dict(), sort_keys=True) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return checkpoint


def read_checkpoints(path: Path) -> Iterator[Checkpoint | str]:
    """The file's checkpoints in the order written, streamed. A line that is not one yields a
    description of it instead. Log lines carrying ``audit_checkpoint`` are read as well."""
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record = record.get("audit_checkpoint", record)
                fields = {field: record[field] for field in _FIELD_TYPES}
            except (ValueError, KeyError, TypeError, AttributeError):
                fields = {}
            if fields and all(isinstance(fields[f], t) for f, t in _FIELD_TYPES.items()):
                yield Checkpoint(**fields)
            else:
                yield f"line {number} of the checkpoints is not a checkpoint"


def verify(path: Path | None = None) -> ChainReport:
    """Verify the chain against the checkpoint file (the configured one by default). With no
    file yet, the chain is verified alone and the report counts no checkpoint."""
    path = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    return verify_chain(read_checkpoints(path) if path.exists() else ())
