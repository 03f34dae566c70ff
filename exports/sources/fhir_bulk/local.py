"""The FHIR Bulk source outside the portal (``manage.py export_practice --source fhir-bulk``):
a picklable spec each worker process opens, and the key ring kept in a local file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from exportportal.encryption import DecryptionError
from exports.private_files import replace_private_file

from ..base import PracticeSource
from ..records import SourceError
from .keys import KeyRing, SigningKey
from .source import FhirBulkSettings, FhirBulkSource


@dataclass(frozen=True)
class FhirBulkSourceSpec:
    """One EHR's FHIR server. ``prepare()`` runs the export once, in the first process;
    workers then read the shared spool and fetch attachments, each with its own token."""

    settings: FhirBulkSettings
    key: SigningKey

    max_workers: ClassVar[int | None] = None

    def open(self, spool_dir: Path) -> PracticeSource:
        return FhirBulkSource.connect(self.settings, self.key, spool_dir)


def load_key_ring(path: Path) -> KeyRing:
    """The key ring ``save_key_ring`` wrote (private keys encrypted with the portal's keys)."""
    try:
        return KeyRing.unsealed(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, DecryptionError) as exc:
        raise SourceError(f"the key file cannot be read ({type(exc).__name__})") from None


def save_key_ring(path: Path, ring: KeyRing) -> None:
    replace_private_file(path, ring.sealed())
