"""A request's history told for people: what happened, in words, with the figures that matter
("Fee collected: 1,400.00 USD, invoice INV-2026-0412"), and the machine evidence (hashes, byte
counts, ids) kept apart so a page can fold it away.

Every event keeps all its details: what a summary does not use stays in the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template.defaultfilters import filesizeformat

from .audit import flatten_details

HEADLINES = {
    "request.filed": "Request filed",
    "request.addendum_sent": "Addendum sent",
    "request.addendum_signed": "Signed addendum received",
    "request.fee_collected": "Fee collected",
    "request.cancelled": "Request cancelled",
    "request.held": "Put on hold",
    "request.resumed": "Taken off hold",
    "request.claimed": "Claimed by the data team",
    "request.released": "Released back to the queue",
    "request.extension_granted": "Timeline extended",
    "request.contact_corrected": "Details corrected",
    "request.edited": "Request edited",
    "request.owner_assigned": "Owner assigned",
    "source.connected": "Data source attached",
    "source.tested": "Data source tested",
    "pipeline.started": "Export started",
    "pipeline.stopped": "Export stopped",
    "pipeline.retried": "Failed stage retried",
    "pipeline.failed": "Export failed",
    "pipeline.extracted": "Data extracted",
    "pipeline.packaged": "Archive packaged",
    "pipeline.approved": "Delivery approved",
    "pipeline.rejected": "Run rejected",
    "pipeline.delivered": "Delivered",
    "delivery.uploaded": "Archive uploaded",
    "delivery.access_granted": "Access granted to the point of contact",
    "delivery.reminder_sent": "Reminder sent",
    "delivery.expired": "Access ended",
    "deletion.requested_early": "Early deletion requested",
    "deletion.started": "Deletion started",
    "deletion.completed": "Deletion completed",
    "deletion.failed": "Deletion failed",
    "password.revealed": "Passwords revealed",
    "manifest.downloaded": "Manifest downloaded",
    "plan.misses_promise": "The export plan misses the promised date",
    "signed_addendum.downloaded": "Signed addendum downloaded",
    "admin.added": "Added in the Django admin",
    "admin.changed": "Changed in the Django admin",
    "admin.deleted": "Deleted in the Django admin",
    "practice.added": "Practice added",
    "practice.changed": "Practice changed",
    "smart_keys.created": "The portal's SMART signing key created",
    "smart_keys.rotated": "The portal's SMART signing key rotated",
}

SOURCE_KINDS = {"demo": "demo practice", "drchrono": "DrChrono", "fhir-bulk": "FHIR Bulk Data"}
PASSWORD_NAMES = {"archive": "archive password", "shared_link": "Box link password"}


@dataclass(frozen=True)
class EventStory:
    headline: str
    summary: str  # the figures a person wants, in words; "" when the headline says it all
    evidence: list[tuple[str, str]]  # every other detail, as label/value pairs


def money(amount: Any, currency: str) -> str:
    try:
        return f"{Decimal(str(amount)):,.2f} {currency}".strip()
    except InvalidOperation:
        return f"{amount} {currency}".strip()


def _count(number: Any, one: str, many: str) -> str:
    try:
        value = int(number)
    except (TypeError, ValueError):
        return f"{number} {many}"
    return f"{value:,} {one if value == 1 else many}"


def _fee(d: Mapping[str, Any]) -> str:
    invoice = d.get("invoice_reference")
    told = money(d.get("amount", ""), d.get("currency", "")) + (
        f", invoice {invoice}" if invoice else ""
    )
    if "quoted_amount" not in d:
        return told
    quoted = money(d["quoted_amount"], d.get("quoted_currency", ""))
    difference = fee_difference(
        d["amount"], d.get("currency", ""), d["quoted_amount"], d.get("quoted_currency", "")
    )
    return f"{told}; quoted {quoted}, " + (difference or "as quoted")


def fee_difference(amount: Any, currency: str, quoted_amount: Any, quoted_currency: str) -> str:
    """How the fee collected differs from the quote, in words ("200.00 USD more than quoted");
    "" when it does not, or while either is unknown."""
    if amount is None or quoted_amount is None:
        return ""
    if quoted_currency != currency:
        return "collected in another currency than quoted"
    difference = Decimal(str(amount)) - Decimal(str(quoted_amount))
    if not difference:
        return ""
    side = "more" if difference > 0 else "less"
    return f"{money(abs(difference), currency)} {side} than quoted"


def _signed_addendum(d: Mapping[str, Any]) -> str:
    return f"signed PDF, {filesizeformat(d['file_bytes'])}" if "file_bytes" in d else ""


def _extension(d: Mapping[str, Any]) -> str:
    added = _count(d.get("days"), "day", "days")
    total = d.get("total_days")
    return f"{added} more" + (f" ({_count(total, 'day', 'days')} in all)" if total else "")


def _corrected(d: Mapping[str, Any]) -> str:
    return ", ".join(str(field).replace("_", " ") for field in d.get("fields", []))


def _practice(d: Mapping[str, Any]) -> str:
    return f"{d['object']}: {_corrected(d)}"


def _owner(d: Mapping[str, Any]) -> str:
    previous = d.get("previous_owner")
    return f"to {d['owner']}" + (f", was {previous}" if previous else "")


def _source(d: Mapping[str, Any]) -> str:
    return SOURCE_KINDS.get(d.get("kind", ""), str(d.get("kind", "")))


def _test(d: Mapping[str, Any]) -> str:
    if not d.get("ok"):
        return "the test failed"
    count = d.get("patient_count")
    return "passed" + (f": {_count(count, 'patient', 'patients')}" if count is not None else "")


def _attempt(d: Mapping[str, Any]) -> str:
    return f"attempt {d['attempt']}" if "attempt" in d else ""


def _extracted(d: Mapping[str, Any]) -> str:
    return (
        f"{_count(d.get('patients'), 'patient', 'patients')} "
        f"in {_count(d.get('batches'), 'batch', 'batches')}"
    )


def _packaged(d: Mapping[str, Any]) -> str:
    size = filesizeformat(d["bytes"]) if "bytes" in d else ""
    parts = d.get("parts")
    return ", ".join(
        part
        for part in (
            _count(d.get("files"), "file", "files"),
            size,
            _count(parts, "part", "parts") if parts and parts != 1 else "",
        )
        if part
    )


def _approved(d: Mapping[str, Any]) -> str:
    failed = d.get("records_failed")
    return f"{_count(failed, 'record', 'records')} that failed acknowledged" if failed else ""


def _passwords(d: Mapping[str, Any]) -> str:
    return " and ".join(PASSWORD_NAMES.get(name, name) for name in d.get("passwords", []))


def _access(d: Mapping[str, Any]) -> str:
    where = {"box": "through Box", "local": "from the delivery folder"}.get(
        d.get("backend", ""), ""
    )
    until = str(d.get("expires_at", ""))[:10]
    return " ".join(part for part in (where, f"until {until}" if until else "") if part)


def _reminder(d: Mapping[str, Any]) -> str:
    return f"{_count(d['mark'], 'day', 'days')} before access ends" if "mark" in d else ""


def _expired(d: Mapping[str, Any]) -> str:
    return "ended early by an admin" if d.get("early") else ""


#: per action, the summary and the detail keys it tells (the rest stays evidence)
SUMMARIES: dict[str, tuple[Callable[[Mapping[str, Any]], str], frozenset[str]]] = {
    "request.fee_collected": (
        _fee,
        frozenset({"amount", "currency", "invoice_reference", "quoted_amount", "quoted_currency"}),
    ),
    "request.addendum_signed": (_signed_addendum, frozenset({"file_bytes"})),
    "request.extension_granted": (_extension, frozenset({"days", "total_days"})),
    "request.contact_corrected": (_corrected, frozenset({"fields"})),
    "request.edited": (_corrected, frozenset({"fields"})),
    "practice.added": (_practice, frozenset({"object", "fields"})),
    "practice.changed": (_practice, frozenset({"object", "fields"})),
    "request.owner_assigned": (_owner, frozenset({"owner", "previous_owner"})),
    "source.connected": (_source, frozenset({"kind"})),
    "source.tested": (_test, frozenset({"ok", "patient_count"})),
    "pipeline.started": (_attempt, frozenset({"attempt"})),
    "pipeline.extracted": (_extracted, frozenset({"patients", "batches"})),
    "pipeline.packaged": (_packaged, frozenset({"files", "bytes", "parts"})),
    "pipeline.approved": (_approved, frozenset({"records_failed"})),
    "password.revealed": (_passwords, frozenset({"passwords"})),
    "delivery.access_granted": (_access, frozenset({"backend", "expires_at"})),
    "delivery.reminder_sent": (_reminder, frozenset({"mark"})),
    "delivery.expired": (_expired, frozenset({"early"})),
}


def headline(action: str) -> str:
    """The action in words; an action this module does not know yet reads from its code."""
    if action in HEADLINES:
        return HEADLINES[action]
    return action.replace(".", " ").replace("_", " ").capitalize()


def event_story(action: str, details: Mapping[str, Any] | None) -> EventStory:
    details = details if isinstance(details, Mapping) else {}
    summarise, told = SUMMARIES.get(action, (None, frozenset()))
    try:
        summary = summarise(details) if summarise else ""
    # details of an unexpected shape: all evidence
    except (KeyError, TypeError, ValueError, InvalidOperation):
        summary, told = "", frozenset()
    rest = {key: value for key, value in details.items() if key not in told}
    return EventStory(headline(action), summary, flatten_details(rest))
