"""The audit (deliveries, password reveals, deletions, downloads of documents that name people,
corrections made in the Django admin): events rendered for people (a page) and for records
(CSV), and the events the Django admin's changes become."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model

from .models import RequestEvent

# What the Django admin's changes are recorded as (exportportal/admin_site.py).
ADMIN_ACTIONS = {"added": "admin.added", "changed": "admin.changed", "deleted": "admin.deleted"}
# Models whose names (str) are safe to record: people's usernames, roles, practices. Anything
# else is named by its id only, so no record can carry a patient's details.
_NAMED_MODELS = {"auth.user", "auth.group", "requests_app.practice"}

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
                event.request.reference if event.request else "",
                event.request.practice.name if event.request else "",
                event.action,
                event.actor_label,
                event.from_status,
                event.to_status,
                event.note,
                json.dumps(event.details, sort_keys=True, ensure_ascii=False),
            )
        ]


def record_admin_change(
    *, actor: AbstractBaseUser, verb: str, obj: Model, change_message: Any = None
) -> RequestEvent:
    """An addition, change or deletion made in the Django admin, as an audit event: which model
    and object, and for a change the names of the fields changed (never their values; a
    person's roles are recorded as they now are)."""
    label = obj._meta.label_lower
    details: dict[str, Any] = {"model": label, "object_id": str(obj.pk)}
    if label in _NAMED_MODELS:
        details["object"] = str(obj)
    if verb == "changed":
        details["fields"] = changed_fields(change_message)
        if label == "auth.user" and "groups" in map(str.lower, details["fields"]):
            details["roles"] = sorted(obj.groups.values_list("name", flat=True))
    return portal_event_record(actor=actor, action=ADMIN_ACTIONS[verb], details=details)


def portal_event_record(
    *, actor: AbstractBaseUser | None, action: str, details: dict[str, Any]
) -> RequestEvent:
    """Something that happened to the portal rather than to one request (an admin's
    correction, the SMART signing key created or rotated), on the same keyed chain. Call
    inside the transaction that did it."""
    return RequestEvent.objects.create(request=None, actor=actor, action=action, details=details)


def changed_fields(change_message: Any) -> list[str]:
    """The field labels the admin's structured change message lists for the object itself."""
    if not isinstance(change_message, list):
        return []
    fields: list[str] = []
    for entry in change_message:
        changed = entry.get("changed", {}) if isinstance(entry, dict) else {}
        if "name" not in changed:  # entries with a name are inline objects
            fields += [str(field) for field in changed.get("fields", [])]
    return sorted(fields)
