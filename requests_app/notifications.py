"""Emails about requests. They name the request reference and the practice, never a patient,
and never carry the archive password.

Each function renders its email and queues it in the outbox, inside the caller's transaction
when there is one; a worker sends it after the commit (outbox/sending.py), so a mail server's
trouble never fails the step that caused the email."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.roles import Role
from outbox.sending import queue_email

from . import selectors
from .models import ExportRequest
from .timeline import TimelineState

logger = logging.getLogger(__name__)


def _request_url(export_request: ExportRequest) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "requests_app:detail", args=[export_request.pk]
    )


def _send(template: str, recipients: Iterable[str], context: dict) -> None:
    to = sorted({address for address in recipients if address})
    if not to:
        logger.warning("email %s not sent: no recipients", template)
        return
    subject = render_to_string(f"emails/{template}.subject.txt", context).strip()
    body = render_to_string(f"emails/{template}.txt", context)
    queue_email(kind=template, subject=subject, body=body, recipients=to)
    logger.info("email %s queued for %d recipients", template, len(to))


def data_team_addresses() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, groups__name=Role.DATA_TEAM.value)
    return list(users.values_list("email", flat=True))


def request_ready(export_request_id: int) -> None:
    export_request = ExportRequest.objects.select_related("practice").get(pk=export_request_id)
    _send(
        "request_ready",
        data_team_addresses(),
        {"r": export_request, "url": _request_url(export_request)},
    )


def request_delivered(export_request_id: int) -> None:
    export_request = ExportRequest.objects.select_related("practice__account_manager").get(
        pk=export_request_id
    )
    _send(
        "request_delivered",
        [export_request.practice.account_manager.email],
        {"r": export_request, "url": _request_url(export_request)},
    )


def request_failed(export_request_id: int) -> None:
    export_request = ExportRequest.objects.select_related(
        "practice__account_manager", "claimed_by"
    ).get(pk=export_request_id)
    recipients = [export_request.practice.account_manager.email]
    if export_request.claimed_by:
        recipients.append(export_request.claimed_by.email)
    _send("request_failed", recipients, {"r": export_request, "url": _request_url(export_request)})


def access_expiring(export_request_id: int, *, days_left: int) -> None:
    export_request = ExportRequest.objects.select_related("practice__account_manager").get(
        pk=export_request_id
    )
    context = {"r": export_request, "days_left": days_left, "url": _request_url(export_request)}
    _send("access_expiring_manager", [export_request.practice.account_manager.email], context)
    _send("access_expiring_contact", [export_request.poc_email], context)


def access_ended_early(export_request_id: int) -> None:
    """An admin ended access before its planned end: the account manager and the point of
    contact hear of it. The admin's reason stays on the request page, out of the email."""
    export_request = ExportRequest.objects.select_related("practice__account_manager").get(
        pk=export_request_id
    )
    manager = export_request.practice.account_manager
    context = {"r": export_request, "manager": manager, "url": _request_url(export_request)}
    _send("access_ended_early_manager", [manager.email], context)
    _send("access_ended_early_contact", [export_request.poc_email], context)


@dataclass(frozen=True)
class DigestLine:
    reference: str
    practice: str
    status: str
    state: TimelineState
    promised_due: datetime
    days_left: int
    days_overdue: int
    owner: str
    url: str


def _digest_line(export_request: ExportRequest, now: datetime) -> DigestLine:
    owner = export_request.claimed_by
    return DigestLine(
        reference=export_request.reference,
        practice=export_request.practice.name,
        status=export_request.get_status_display(),
        state=export_request.timeline_state(now),
        promised_due=export_request.timeline.promised_due,
        days_left=export_request.timeline.days_left(now),
        days_overdue=(now - export_request.timeline.promised_due).days,
        owner=(owner.get_full_name() or owner.get_username()) if owner else "unclaimed",
        url=_request_url(export_request),
    )


def timeline_digest(now: datetime) -> int:
    """Email the at-risk and overdue requests: to each account manager their own, to the data
    team all of them. Nobody gets an empty digest. Returns the number of emails queued."""
    lines_by_manager: dict[str, list[DigestLine]] = defaultdict(list)
    every_line: list[DigestLine] = []
    for export_request in selectors.open_requests_by_timeline(
        (TimelineState.AT_RISK, TimelineState.OVERDUE), now
    ):
        line = _digest_line(export_request, now)
        every_line.append(line)
        lines_by_manager[export_request.practice.account_manager.email].append(line)

    sent = 0
    for email, lines in lines_by_manager.items():
        sent += _send_digest([email], lines, audience="your practices")
    if every_line:
        sent += _send_digest(data_team_addresses(), every_line, audience="all practices")
    return sent


def _send_digest(recipients: list[str], lines: list[DigestLine], *, audience: str) -> int:
    context = {
        "overdue": [line for line in lines if line.state is TimelineState.OVERDUE],
        "at_risk": [line for line in lines if line.state is TimelineState.AT_RISK],
        "audience": audience,
    }
    if not any(recipients):
        logger.warning("email timeline_digest not sent: no recipients")
        return 0
    _send("timeline_digest", recipients, context)
    return 1


def delivery_instructions(export_request_id: int, *, receipt: dict) -> None:
    """How the point of contact reaches the files (``receipt``: the delivery's, as the job
    keeps it). The password goes by another channel."""
    export_request = ExportRequest.objects.select_related("practice__account_manager").get(
        pk=export_request_id
    )
    _send(
        "delivery_instructions",
        [export_request.poc_email],
        {
            "r": export_request,
            "manager": export_request.practice.account_manager,
            # Box gives the contact a collaboration (and maybe a shared link); the local
            # backend a folder the account manager hands over.
            "via_box": receipt.get("backend") == "box",
            "access": receipt.get("access", {}),
        },
    )
