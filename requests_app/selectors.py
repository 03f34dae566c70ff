"""Reads: which requests a person may see, and the lists each dashboard shows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.http import Http404, HttpRequest
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from accounts.roles import Role, has_role, log_permission_denied

from .actions import RequestAction, registered
from .models import CLOSED, ExportRequest, Practice, RequestEvent, Status
from .timeline import PROMISED_WINDOW, STANDARD_WINDOW, TimelineState


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


def visible_request_or_404(request: HttpRequest, pk: int) -> ExportRequest:
    """404 for requests the person may not see: their existence is not disclosed to them, but
    a request that exists is logged as the permission failure it is."""
    return _one_or_404(request, requests_visible_to(request.user), pk, "request")


def managed_practice_or_404(request: HttpRequest, pk: int) -> Practice:
    """A practice the person manages; any other is a 404 (not disclosed), logged if it exists."""
    return _one_or_404(request, practices_managed_by(request.user), pk, "practice")


def _one_or_404(request: HttpRequest, allowed: QuerySet, pk: int, what: str):
    try:
        return allowed.get(pk=pk)
    except allowed.model.DoesNotExist:
        if allowed.model.objects.filter(pk=pk).exists():
            log_permission_denied(request, f"hidden={what}")
        raise Http404(f"No such {what}.") from None


def actions_for(user: AbstractBaseUser, export_request: ExportRequest) -> list[RequestAction]:
    """The one answer to "what can this person do on this request now": every button (this
    app's and the pipeline's) whose rule allows it, in lifecycle order. The pages offer these;
    the services refuse anything else by the same rules."""
    return [action for action in registered() if action.allows(user, export_request)]


def requests_managed_by(user: AbstractBaseUser) -> QuerySet[ExportRequest]:
    """An account manager's own practices' requests; every request for an admin."""
    return ExportRequest.objects.select_related(
        "practice", "claimed_by", "practice__account_manager"
    ).filter(practice__in=practices_managed_by(user))


def practices_with_open_counts(user: AbstractBaseUser) -> QuerySet[Practice]:
    """The practices a person manages, each with how many of its requests are open."""
    return (
        practices_managed_by(user)
        .select_related("account_manager")
        .annotate(
            open_requests=Count("export_requests", filter=~Q(export_requests__status__in=CLOSED))
        )
        .order_by("name", "pk")
    )


def account_managers() -> QuerySet:
    """Who can manage a practice: the account managers' active members, by name."""
    return _active_in(Role.ACCOUNT_MANAGER)


def data_team_members() -> QuerySet:
    """Who can own a request: the data team's active members, by name."""
    return _active_in(Role.DATA_TEAM)


def _active_in(role: Role) -> QuerySet:
    return (
        get_user_model()
        .objects.filter(groups__name=role.value, is_active=True)
        .order_by("first_name", "last_name", "username")
    )


def open_requests_for(practice: Practice) -> QuerySet[ExportRequest]:
    """A practice's requests not yet cancelled or expired, oldest first."""
    return practice.export_requests.exclude(status__in=CLOSED).order_by("pk")


_REFERENCE = re.compile(r"^(?:EXP-?)?0*(\d{1,12})$", re.IGNORECASE)


def search_requests(
    requests: QuerySet[ExportRequest],
    *,
    q: str = "",
    status: str = "",
    practice: Practice | None = None,
) -> QuerySet[ExportRequest]:
    """Narrow a list by free text (practice name, EHR id, reference, or the point of contact's
    name or email), status and practice. ``status="open"`` means everything not cancelled or
    expired."""
    if q := q.strip():
        match = (
            Q(practice__name__icontains=q)
            | Q(practice__ehr_practice_id__iexact=q)
            | Q(poc_name__icontains=q)
            | Q(poc_email__icontains=q)
        )
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


def _days(field: str) -> ExpressionWrapper:
    """A whole-days integer field as a duration, in SQL (PostgreSQL and SQLite alike)."""
    days = ExpressionWrapper(F(field), output_field=IntegerField())
    return ExpressionWrapper(days * Value(timedelta(days=1)), output_field=DurationField())


def with_timeline(requests: QuerySet[ExportRequest], now: datetime) -> QuerySet[ExportRequest]:
    """Each request's two marks and its timeline state at ``now``, computed by the database
    exactly as ``Timeline`` computes them (``requests_app/timeline.py``), so lists filter, sort
    and count by them in SQL."""
    extension = _days("extension_days")

    def mark(window: timedelta) -> ExpressionWrapper:
        return ExpressionWrapper(
            F("ready_at") + Value(window) + extension, output_field=DateTimeField()
        )

    S = TimelineState
    return requests.annotate(
        standard_due_at=mark(STANDARD_WINDOW),
        promised_due_at=mark(PROMISED_WINDOW),
    ).annotate(
        timeline_state_now=Case(
            When(ready_at__isnull=True, then=Value(S.NOT_STARTED.value)),
            When(
                delivered_at__isnull=False,
                delivered_at__lt=F("promised_due_at"),
                then=Value(S.DELIVERED_ON_TIME.value),
            ),
            When(delivered_at__isnull=False, then=Value(S.DELIVERED_LATE.value)),
            When(status=Status.CANCELLED, closed_at__isnull=False, then=Value(S.STOPPED.value)),
            When(standard_due_at__gt=now, then=Value(S.ON_TRACK.value)),
            When(promised_due_at__gt=now, then=Value(S.AT_RISK.value)),
            default=Value(S.OVERDUE.value),
            output_field=CharField(),
        )
    )


def in_timeline_state(
    requests: QuerySet[ExportRequest], state: TimelineState | None, now: datetime
) -> QuerySet[ExportRequest]:
    """The requests whose timeline is in ``state`` at ``now`` (all of them for None)."""
    requests = with_timeline(requests, now)
    return requests if state is None else requests.filter(timeline_state_now=state.value)


def by_deadline(requests: QuerySet[ExportRequest]) -> QuerySet[ExportRequest]:
    """Nearest promised date first (extensions included), requests not started last."""
    if "promised_due_at" not in requests.query.annotations:
        requests = with_timeline(requests, timezone.now())
    return requests.order_by(F("promised_due_at").asc(nulls_last=True), "pk")


#: A list's sort keys (the URL's ``sort``; "-" before one sorts descending) and what each sorts by.
SORT_KEYS = {
    "reference": "pk",
    "practice": "practice__name",
    "poc": "poc_name",
    "status": "status_rank",
    "timeline": "timeline_state_now",
    "promised": "promised_due_at",
    "owner": "claimed_by__last_name",
}
_STATUS_RANK = Case(
    *(When(status=status, then=Value(rank)) for rank, status in enumerate(Status.values)),
    output_field=IntegerField(),
)


def sorted_requests(requests: QuerySet[ExportRequest], sort: str) -> QuerySet[ExportRequest]:
    """Sorted by one of ``SORT_KEYS`` (status in lifecycle order, empty values last); any other
    ``sort``, by deadline."""
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        return by_deadline(requests)
    if "promised_due_at" not in requests.query.annotations:
        requests = with_timeline(requests, timezone.now())
    column = F(SORT_KEYS[key])
    order = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_last=True)
    return requests.annotate(status_rank=_STATUS_RANK).order_by(order, "pk")


def ready_queue() -> QuerySet[ExportRequest]:
    return by_deadline(ExportRequest.objects.filter(status=Status.READY).select_related("practice"))


def jobs_of(user: AbstractBaseUser) -> QuerySet[ExportRequest]:
    mine = ExportRequest.objects.filter(claimed_by=user).exclude(
        status__in=[Status.EXPIRED, Status.CANCELLED]
    )
    return by_deadline(mine.select_related("practice"))


def timeline_counts(requests: QuerySet[ExportRequest], now=None) -> Counter[TimelineState]:
    """How many requests are in each timeline state, counted by the database."""
    counted = (
        with_timeline(requests.select_related(None).order_by(), now or timezone.now())
        .values("timeline_state_now")
        .annotate(requests=Count("pk"))
    )
    return Counter({TimelineState(row["timeline_state_now"]): row["requests"] for row in counted})


def status_counts(requests: QuerySet[ExportRequest]) -> dict[str, int]:
    counted = dict(
        requests.select_related(None)
        .order_by()
        .values("status")
        .annotate(requests=Count("pk"))
        .values_list("status", "requests")
    )
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
    "smart_keys.",
    "practice.",
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
    started = (
        ExportRequest.objects.filter(ready_at__isnull=False, delivered_at__isnull=True)
        .exclude(status__in=CLOSED)
        .select_related("practice__account_manager", "claimed_by")
    )
    wanted = in_timeline_state(started, None, now).filter(
        timeline_state_now__in=[state.value for state in states]
    )
    return wanted.order_by("ready_at", "pk").iterator(chunk_size=500)


def request_for_update(export_request_id: int) -> ExportRequest:
    """The request, row-locked until the transaction ends: taken before the rows of its
    pipeline, so writers lock in one order. Call inside atomic()."""
    return ExportRequest.objects.select_for_update().get(pk=export_request_id)


def delivered_request_ids(
    *, expiring_after: datetime | None = None, expiring_by: datetime | None = None
) -> list[int]:
    """Ids of delivered requests whose access ends in (``expiring_after``, ``expiring_by``]."""
    delivered = ExportRequest.objects.filter(status=Status.DELIVERED)
    if expiring_after is not None:
        delivered = delivered.filter(access_expires_at__gt=expiring_after)
    if expiring_by is not None:
        delivered = delivered.filter(access_expires_at__lte=expiring_by)
    return list(delivered.order_by("pk").values_list("pk", flat=True))


def delivered_request_ids_flagged(*, expired_by: datetime, flagged_by: str) -> list[int]:
    """Ids of delivered requests whose access ended by ``expired_by`` or that carry an event
    ``flagged_by`` (e.g. an admin's early deletion)."""
    due = ExportRequest.objects.filter(status=Status.DELIVERED).filter(
        Q(access_expires_at__lte=expired_by) | Q(events__action=flagged_by)
    )
    return list(due.values_list("pk", flat=True).distinct().order_by("pk"))


def has_event(
    export_request: ExportRequest, action: str, *, since: datetime | None = None, **details
) -> bool:
    """Whether the request's history holds an ``action`` event (since ``since``) whose details
    include ``details``."""
    events = export_request.events.filter(
        action=action, **{f"details__{key}": value for key, value in details.items()}
    )
    if since is not None:
        events = events.filter(created_at__gt=since)
    return events.exists()


def latest_event(
    export_request: ExportRequest, actions: Iterable[str], *, since: datetime | None = None
) -> RequestEvent | None:
    """The request's newest event of one of these ``actions`` (since ``since``)."""
    events = export_request.events.filter(action__in=list(actions))
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events.select_related("actor").order_by("-created_at", "-pk").first()


def request_by_id(export_request_id: int) -> ExportRequest:
    return ExportRequest.objects.get(pk=export_request_id)
