"""Sources for exports run outside the portal (``manage.py export_practice``, benchmarks).

The portal opens a source from a request's stored connection (``sources.registry``); a local
export has no database rows, so it describes its source with a small picklable spec instead.
A spec is what a worker process receives to open its own source.

Each EHR's spec lives with its source (``exports.sources.drchrono.local``,
``exports.sources.fhir_bulk.local``): the worker pool's server imports this module, and with
it every worker, so an EHR's HTTP client (httpx: 16 MB) is loaded only where that EHR is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from exports.sources.base import PracticeSource
from exports.sources.demo import DEFAULT_LARGE_DOCUMENT_BYTES, DemoSource


class SourceSpec(Protocol):
    """Everything needed to open one source, in any process."""

    #: at most this many processes may read the source at once (None: no limit)
    max_workers: ClassVar[int | None]

    def open(self, spool_dir: Path) -> PracticeSource:
        """A new source; ``spool_dir`` is a private folder it may keep files in."""
        ...


@dataclass(frozen=True)
class DemoSourceSpec:
    """The synthetic demo practice: opens anywhere, any number of times, identically."""

    patients: int
    seed: int
    practice_name: str = "Demo Family Practice"
    large_document_bytes: int = DEFAULT_LARGE_DOCUMENT_BYTES

    max_workers: ClassVar[int | None] = None

    def open(self, spool_dir: Path) -> PracticeSource:
        return DemoSource(
            patients=self.patients,
            seed=self.seed,
            practice_name=self.practice_name,
            large_document_bytes=self.large_document_bytes,
        )
