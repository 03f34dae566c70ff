"""Reads: which requests a person may see, and the lists each dashboard shows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from accounts.roles import Role, has_role

from .models import CLOSED, ExportRequest, Practice, RequestEvent, Status
from .timeline import TimelineState


def practices_managed_by(user: AbstractBaseUser) -> QuerySet[Practice]:
    if has_role(user, Role.ADMIN):
        return Practice.objects.all()
    if not has_role(user, Role.ACCOUNT_MANAGER):
        return Practice.objects.none()
    return get_objects_for_user(
        user, "requests_app.manage_practice", klass=Practice, accept_global_perms=False
    )


def requests_visible_to(user: AbstractBaseUser) -> QuerySet[ExportRequest]:
    base = ExportRequest.objects.select_related(
        "practice", "claimed_by", "practice__account_manager"
    )
    if has_role(user, Role.ADMIN):
        return base
    visible = base.none()
    if has_role(user, Role.ACCOUNT_MANAGER):
        visible = visible | base.filter(practice__in=practices_managed_by(user))
    if has_role(user, Role.DATA_TEAM):
        visible = visible | base.filter(ready_at__isnull=False)
    return visible


def requests_managed_by(user: AbstractBaseUser) -> QuerySet[ExportRequest]:
    """An account manager's own practices' requests; every request for an admin."""
    return ExportRequest.objects.select_related(
        "practice", "claimed_by", "practice__account_manager"
    ).filter(practice__in=practices_managed_by(user))


_REFERENCE = re.compile(r"^(?:EXP-?)?0*(\d{1,12})$", re.IGNORECASE)


def search_requests(
    requests: QuerySet[ExportRequest],
    *,
    q: str = "",
    status: str = "",
    practice: Practice | None = None,
) -> QuerySet[ExportRequest]:
    """Narrow a list by free text (practice name, EHR id or reference), status and practice.
    ``status="open"`` means everything not cancelled or expired."""
    if q := q.strip():
        match = Q(practice__name__icontains=q) | Q(practice__ehr_practice_id__iexact=q)
        if reference := _REFERENCE.match(q):
            match |= Q(pk=int(reference.group(1)))
        requests = requests.filter(match)
    if status == "open":
        requests = requests.exclude(status__in=CLOSED)
    elif status:
        requests = requests.filter(status=status)
    if practice is not None:
        requests = requests.filter(practice=practice)
    return requests


def in_timeline_state(
    requests: Iterable[ExportRequest], state: TimelineState | None, now: datetime
) -> list[ExportRequest]:
    """The timeline state is derived from dates and extensions, so it is filtered here."""
    return [r for r in requests if state is None or r.timeline_state(now) == state]


def by_deadline(requests: QuerySet[ExportRequest]) -> list[ExportRequest]:
    """Nearest promised date first (extensions included). Queues are short: sorted here."""
    far = timezone.now() + timedelta(days=100 * 365)
    return sorted(requests, key=lambda r: (r.timeline.promised_due or far, r.pk))


def ready_queue() -> list[ExportRequest]:
    return by_deadline(ExportRequest.objects.filter(status=Status.READY).select_related("practice"))


def jobs_of(user: AbstractBaseUser) -> list[ExportRequest]:
    mine = ExportRequest.objects.filter(claimed_by=user).exclude(
        status__in=[Status.EXPIRED, Status.CANCELLED]
    )
    return by_deadline(mine.select_related("practice"))


def timeline_counts(requests: QuerySet[ExportRequest], now=None) -> Counter[TimelineState]:
    now = now or timezone.now()
    fields = ("ready_at", "extension_days", "delivered_at", "closed_at", "status")
    return Counter(r.timeline_state(now) for r in requests.select_related(None).only(*fields))


def status_counts(requests: QuerySet[ExportRequest]) -> dict[str, int]:
    counted = Counter(requests.values_list("status", flat=True))
    return {status: counted.get(status, 0) for status, _ in Status.choices}


# exports.lifecycle's codes: delivery.*, deletion.*, and password.revealed (who saw it, when);
# downloads of documents that name people (exports.review's manifest, requests_app.downloads'
# signed addendum); corrections made in the Django admin (requests_app.audit).
AUDIT_PREFIXES = (
    "delivery.",
    "deletion.",
    "password.",
    "manifest.",
    "signed_addendum.",
    "admin.",
    "request.contact_corrected",
)


def audit_events() -> QuerySet[RequestEvent]:
    """Every delivery, password reveal, deletion, download of a document that names people and
    correction made in the Django admin, newest first: the evidence of who got or saw what,
    when access expired, proof of deletion, and who changed practices, people and roles."""
    prefixes = Q()
    for prefix in AUDIT_PREFIXES:
        prefixes |= Q(action__startswith=prefix)
    return (
        RequestEvent.objects.filter(prefixes)
        .select_related("actor", "request__practice")
        .order_by("-created_at", "-id")
    )


def open_requests_by_timeline(
    states: Iterable[TimelineState], now: datetime
) -> Iterator[ExportRequest]:
    """Started, unfinished requests whose timeline is in ``states``, streamed."""
    wanted = set(states)
    started = (
        ExportRequest.objects.filter(ready_at__isnull=False, delivered_at__isnull=True)
        .exclude(status__in=CLOSED)
        .select_related("practice__account_manager", "claimed_by")
        .order_by("ready_at", "pk")
    )
    for export_request in started.iterator(chunk_size=500):
        if export_request.timeline_state(now) in wanted:
            yield export_request
