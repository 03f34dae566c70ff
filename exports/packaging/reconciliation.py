"""Accounting for every record: in the source = exported + excluded + failed, per category.

Batches count what they did in a ``Tally``; the package step adds the tallies up, puts the
source's own counts beside them and writes ``reconciliation.csv``. The result is returned as a
``Reconciliation`` so the portal can store it on the request for review. An unbalanced line
means records went missing without a trace: the caller must fail the export.

Besides the source's categories there are two C-CDA lines. "CCDA Files": one C-CDA is expected
for every patient exported (the source's own or ours). "C-CDAs from the EHR": every document
the source gave, and what became of it: exported (shipped as the patient's C-CDA, or kept as
received beside ours when it fails validation), or excluded with the reason ours was shipped
instead (about another patient: never filed under this one; or it could not be had).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exports.deliverable_schema import RECONCILIATION
from exports.sources.records import NOT_TIED_TO_A_PATIENT, Category, FaxOrReferral

from .cells import csv_text

logger = logging.getLogger(__name__)

#: the reconciliation line of the patients' C-CDA documents (not a source category)
CCDA_FILES = "ccda_files"
#: the reconciliation line of the C-CDA documents the source gave (not a source category)
SOURCE_CCDAS = "source_ccdas"
_LABELS = {CCDA_FILES: "CCDA Files", SOURCE_CCDAS: "C-CDAs from the EHR"}
LINE_KEYS: tuple[str, ...] = (*(category.value for category in Category), *_LABELS)


def line_label(key: str) -> str:
    return _LABELS.get(key) or Category(key).label


@dataclass(slots=True)
class LineTally:
    """What happened to the records of one category in one batch (or several, added up)."""

    exported: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failed_ids: list[str] = field(default_factory=list)
    received: int = 0  # records counted on receipt, for lines no source counts up front

    def add(self, other: LineTally) -> None:
        self.received += other.received
        self.exported += other.exported
        self.excluded.update(other.excluded)
        self.failed.update(other.failed)
        self.failed_ids.extend(other.failed_ids)


class Tally:
    """Per-category counts of exported, excluded (by reason) and failed (by reason, with ids)."""

    def __init__(self) -> None:
        self._lines: dict[str, LineTally] = {key: LineTally() for key in LINE_KEYS}

    def received(self, key: str) -> None:
        self._lines[key].received += 1

    def exported(self, key: str, count: int = 1) -> None:
        self._lines[key].exported += count

    def excluded(self, key: str, reason: str) -> None:
        self._lines[key].excluded[reason] += 1

    def failed(self, key: str, record_id: str, reason: str) -> None:
        line = self._lines[key]
        line.failed[reason] += 1
        line.failed_ids.append(record_id)

    def line(self, key: str) -> LineTally:
        return self._lines[key]

    def total_failed(self) -> int:
        return sum(line.failed.total() for line in self._lines.values())

    def add(self, other: Tally) -> None:
        for key, line in other._lines.items():
            self._lines[key].add(line)

    def to_json(self) -> dict[str, Any]:
        return {
            key: {
                "exported": line.exported,
                "excluded": dict(line.excluded),
                "failed": dict(line.failed),
                "failed_ids": line.failed_ids,
                "received": line.received,
            }
            for key, line in self._lines.items()
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        tally = cls()
        for key, line in data.items():
            tally._lines[key] = LineTally(
                exported=line["exported"],
                excluded=Counter(line["excluded"]),
                failed=Counter(line["failed"]),
                failed_ids=list(line["failed_ids"]),
                received=line.get("received", 0),
            )
        return tally


@dataclass(frozen=True, slots=True)
class ReconciliationLine:
    key: str
    label: str
    in_source: int
    exported: int
    excluded_reasons: Mapping[str, int]
    failed_reasons: Mapping[str, int]
    failed_ids: tuple[str, ...]

    @property
    def excluded(self) -> int:
        return sum(self.excluded_reasons.values())

    @property
    def failed(self) -> int:
        return sum(self.failed_reasons.values())

    @property
    def is_balanced(self) -> bool:
        return self.in_source == self.exported + self.excluded + self.failed


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The export's accounting, one line per category in a fixed order."""

    lines: tuple[ReconciliationLine, ...]
    #: what the source could not give (e.g. names from a list it refused), said with the counts
    notes: tuple[str, ...] = ()

    @property
    def is_balanced(self) -> bool:
        return all(line.is_balanced for line in self.lines)

    @property
    def has_failures(self) -> bool:
        return any(line.failed for line in self.lines)

    @property
    def unbalanced(self) -> tuple[ReconciliationLine, ...]:
        return tuple(line for line in self.lines if not line.is_balanced)

    def line(self, key: str) -> ReconciliationLine:
        return next(line for line in self.lines if line.key == key)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for storing on the request."""
        return {
            "is_balanced": self.is_balanced,
            "has_failures": self.has_failures,
            "notes": list(self.notes),
            "lines": [
                {
                    "key": line.key,
                    "label": line.label,
                    "in_source": line.in_source,
                    "exported": line.exported,
                    "excluded": line.excluded,
                    "failed": line.failed,
                    "is_balanced": line.is_balanced,
                    "excluded_reasons": dict(line.excluded_reasons),
                    "failed_reasons": dict(line.failed_reasons),
                    "failed_ids": list(line.failed_ids),
                }
                for line in self.lines
            ],
        }

    def to_csv(self) -> bytes:
        """``reconciliation.csv``: UTF-8 with a BOM so Excel reads it as UTF-8."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(RECONCILIATION.headers)
        for line in self.lines:
            writer.writerow(
                [
                    line.label,
                    line.in_source,
                    line.exported,
                    line.excluded,
                    line.failed,
                    "yes" if line.is_balanced else "NO: records unaccounted for",
                    csv_text(_reasons_text(line.excluded_reasons)),
                    csv_text(_reasons_text(line.failed_reasons)),
                    csv_text(
                        "; ".join(record_id or "(whole list)" for record_id in line.failed_ids)
                    ),
                ]
            )
        for note in self.notes:
            # a full row, its other cells empty, so every row has the header's width
            writer.writerow([f"Note: {csv_text(note)}", *[""] * (len(RECONCILIATION.columns) - 1)])
        return out.getvalue().encode("utf-8-sig", "replace")


def reconcile(
    tally: Tally,
    counts_in_source: Mapping[Category, int],
    unattached: Iterable[FaxOrReferral],
    notes: Iterable[str] = (),
) -> Reconciliation:
    """The reconciliation of an export from its batches' tally and the source's own counts.

    Faxes and referrals tied to no patient are counted excluded here (batches never see them).
    A category the source did not count is taken as 0 in the source, so anything exported in
    it shows as unbalanced rather than passing unnoticed.
    """
    for _record in unattached:
        tally.excluded(Category.FAXES_AND_REFERRALS, NOT_TIED_TO_A_PATIENT)
    expected = {category.value: counts_in_source.get(category, 0) for category in Category}
    expected[CCDA_FILES] = tally.line(Category.PATIENTS).exported
    expected[SOURCE_CCDAS] = tally.line(SOURCE_CCDAS).received
    reconciliation = Reconciliation(
        tuple(
            ReconciliationLine(
                key=key,
                label=line_label(key),
                in_source=expected[key],
                exported=tally.line(key).exported,
                excluded_reasons=dict(sorted(tally.line(key).excluded.items())),
                failed_reasons=dict(sorted(tally.line(key).failed.items())),
                failed_ids=tuple(tally.line(key).failed_ids),
            )
            for key in LINE_KEYS
        ),
        notes=tuple(notes),
    )
    for line in reconciliation.unbalanced:
        logger.error(
            "Reconciliation unbalanced for %s: %d in source, %d exported, %d excluded, %d failed",
            line.key,
            line.in_source,
            line.exported,
            line.excluded,
            line.failed,
        )
    return reconciliation


def _reasons_text(reasons: Mapping[str, int]) -> str:
    return "; ".join(f"{reason}: {count}" for reason, count in reasons.items())
