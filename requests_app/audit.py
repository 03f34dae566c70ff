"""The delivery audit (deliveries, password reveals, deletions): events rendered for people (a
page) and for records (CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from .models import RequestEvent

CSV_HEADER = (
    "time (UTC)",
    "request",
    "practice",
    "action",
    "by",
    "from status",
    "to status",
    "note",
    "details (JSON)",
)

# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def flatten_details(details: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested event details as ``(label, value)`` pairs: ``{"box": {"folder_id": 7}}`` becomes
    ``[("box / folder id", "7")]``. Lists of plain values are joined; lists of objects numbered."""
    if isinstance(details, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in details.items():
            label = str(key).replace("_", " ")
            pairs += flatten_details(value, f"{prefix} / {label}" if prefix else label)
        return pairs
    if isinstance(details, list):
        if all(not isinstance(item, dict | list) for item in details):
            return [(prefix, ", ".join(_plain(item) for item in details))]
        pairs = []
        for number, item in enumerate(details, start=1):
            pairs += flatten_details(item, f"{prefix} {number}")
        return pairs
    return [(prefix, _plain(details))]


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def csv_cell(value: str) -> str:
    """Text safe to open in a spreadsheet: a leading formula character is quoted away."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_rows(events: Iterable[RequestEvent]) -> Iterator[list[str]]:
    yield list(CSV_HEADER)
    for event in events:
        yield [
            csv_cell(value)
            for value in (
                event.created_at.astimezone(UTC).isoformat(),
                event.request.reference,
                event.request.practice.name,
                event.action,
                event.actor_label,
                event.from_status,
                event.to_status,
                event.note,
                json.dumps(event.details, sort_keys=True, ensure_ascii=False),
            )
        ]
