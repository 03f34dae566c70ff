"""Pages. Each view checks role and object, calls a selector or a service, and renders.

Visibility and rights are told apart: a request the person may not see is a 404 (its existence
is not disclosed); an action on a request they see but may not act on is a 403.
"""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, role_required

from . import actions, audit, downloads, permissions, selectors, services
from .bar_chart import bar_chart
from .catalog import NEVER_EXPORTED
from .forms import FileRequestForm, RequestDetailsForm, RequestFilterForm
from .list_columns import sortable_columns
from .models import CLOSED, ExportRequest, Status
from .services import RequestActionError
from .timeline import TimelineState
from .timeline_chart import timeline_chart

PAGE_SIZE = 50
EVERY_ROLE = (Role.ACCOUNT_MANAGER, Role.DATA_TEAM, Role.ADMIN)


# -- lists and dashboards ------------------------------------------------------------------------


@require_GET
@role_required(Role.ACCOUNT_MANAGER, Role.ADMIN)
def dashboard_account_manager(request: HttpRequest) -> HttpResponse:
    """My requests (an admin: every request), filtered and searched; htmx swaps the results."""
    now = timezone.now()
    mine = selectors.requests_managed_by(request.user)
    filtered = set(request.GET) & set(RequestFilterForm.base_fields)
    form = RequestFilterForm(
        request.GET if filtered else None,
        initial={"status": "open"},  # what an unfiltered list shows
        practices=selectors.practices_managed_by(request.user),
    )
    state, found, sort = None, mine.exclude(status__in=CLOSED), ""
    if form.is_bound and form.is_valid():
        filters = form.cleaned_data
        state = TimelineState(filters["timeline"]) if filters["timeline"] else None
        found = selectors.search_requests(
            mine, q=filters["q"], status=filters["status"], practice=filters["practice"]
        )
        sort = filters["sort"]
    rows = selectors.sorted_requests(selectors.in_timeline_state(found, state, now), sort)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    # The list as shown, in the URL: an unfiltered one shows open requests.
    shown = request.GET if form.is_bound else QueryDict("status=open")
    context = {
        "form": form,
        "page": page,
        "now": now,
        "query": _query_without_page(request),
        "columns": sortable_columns(shown, sort),
    }
    if request.htmx:
        response = render(request, "requests_app/_request_results.html", context)
    else:
        context["timeline_counts"] = selectors.timeline_counts(mine.exclude(status__in=CLOSED), now)
        response = render(request, "requests_app/dashboard_account_manager.html", context)
    # The same URL answers with a fragment or a page: caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@role_required(Role.DATA_TEAM, Role.ADMIN)
def dashboard_data_team(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "requests_app/dashboard_data_team.html",
        {
            **_sorted_page(request, selectors.ready_queue()),
            "jobs": selectors.jobs_of(request.user),
            "now": timezone.now(),
        },
    )


def _sorted_page(request: HttpRequest, requests) -> dict:
    """A list sorted by the heading clicked (``sort`` in the URL; by deadline otherwise), one
    page of it, and the headings' sort links."""
    sort = request.GET.get("sort", "")
    rows = selectors.sorted_requests(requests, sort)
    return {
        "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "columns": sortable_columns(request.GET, sort),
        "query": _query_without_page(request),
    }


@require_GET
@role_required(Role.ADMIN)
def dashboard_admin(request: HttpRequest) -> HttpResponse:
    everything = selectors.requests_visible_to(request.user)
    now = timezone.now()
    status_counts = selectors.status_counts(everything)
    open_requests = everything.exclude(status__in=CLOSED)
    timeline_counts = selectors.timeline_counts(open_requests, now)
    return render(
        request,
        "requests_app/dashboard_admin.html",
        {
            "status_chart": bar_chart(
                "Requests by status",
                ((s, label, status_counts[s]) for s, label in Status.choices),
            ),
            "timeline_chart": bar_chart(
                "Open requests by timeline state",
                ((state.value, state.label, timeline_counts[state]) for state in TimelineState),
            ),
            "timeline_counts": timeline_counts,
            **_sorted_page(request, open_requests),
            "now": now,
        },
    )


# -- one request -----------------------------------------------------------------------------------


@require_GET
@role_required(*EVERY_ROLE)
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, selectors.visible_request_or_404(request, pk))


@require_GET
@never_cache
@role_required(*EVERY_ROLE)
def request_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The request page's live regions, polled while the pipeline runs: every region that can
    change comes from one read, so the page never says two different things."""
    return render(
        request,
        "requests_app/_live.html",
        _request_page_context(request, selectors.visible_request_or_404(request, pk)),
    )


def _detail_page(
    request: HttpRequest, export_request: ExportRequest, posted=None, status: int = 200
) -> HttpResponse:
    """The request page; ``posted`` is an action's refused form, shown again at its place."""
    return render(
        request,
        "requests_app/detail.html",
        _request_page_context(request, export_request, posted),
        status=status,
    )


def _request_page_context(request: HttpRequest, export_request: ExportRequest, posted=None) -> dict:
    events = list(export_request.events.select_related("actor"))
    now = timezone.now()
    return {
        "r": export_request,
        "events": events,
        "now": now,
        "chart": timeline_chart(export_request, events, now),
        "actions": actions.with_forms(selectors.actions_for(request.user, export_request), posted),
        "posted_form": posted,
        "may_read_addendum": _may_read_addendum(request.user, export_request),
        "may_edit": services.EDIT_REQUEST.allows(request.user, export_request),
        "poll_seconds": settings.EXPORT_PROGRESS_POLL_SECONDS,
    }


@require_POST
@role_required(*EVERY_ROLE)
def request_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One step on a request (POST only). Done: back to the request page with a message. A
    refused form: the request page again, in answer to this POST, with what was typed (secrets
    too: they never reach a URL or a log) and each error once, at its field."""
    chosen = actions.ACTIONS_BY_SLUG.get(action)
    if chosen is None:
        raise Http404("No such action.")
    export_request = selectors.visible_request_or_404(request, pk)
    if not chosen.may(request.user, export_request):
        raise permissions.refusal(request.user, chosen.slug, export_request.pk)
    form = chosen.form(request.POST, request.FILES)
    if form.is_valid():
        try:
            chosen.perform(export_request, request.user, form.cleaned_data)
        except RequestActionError as refused:
            form.add_error(None, str(refused))
        except ValidationError as invalid:
            _add_service_errors(form, invalid)
        else:
            messages.success(request, chosen.done)
            return redirect("requests_app:detail", pk=export_request.pk)
    export_request.refresh_from_db()
    if not form.fields or not chosen.allows(request.user, export_request):
        # No form on the page to show it at (a bare button, or a step no longer offered): the
        # page's message says it.
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect("requests_app:detail", pk=export_request.pk)
    response = _detail_page(request, export_request, posted=form, status=400)
    add_never_cache_headers(response)  # it may hold the secrets just typed
    return response


def _add_service_errors(form, invalid: ValidationError) -> None:
    """A service's ValidationError onto the form: at the field it names (a one-field form's
    at that field), else above the form."""
    if not hasattr(invalid, "error_dict"):
        only_field = next(iter(form.fields)) if len(form.fields) == 1 else None
        form.add_error(only_field, invalid)
        return
    for field, errors in invalid.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@role_required(Role.ACCOUNT_MANAGER, Role.ADMIN)
def request_file(request: HttpRequest) -> HttpResponse:
    """File a request for one of my practices: the form shows what is and is not exported."""
    practices = selectors.practices_managed_by(request.user)
    form = FileRequestForm(
        request.POST or None,
        practices=practices,
        initial={"practice": request.GET.get("practice")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            details = {k: v for k, v in form.cleaned_data.items() if k != "file_anyway"}
            export_request = services.export_request_file(actor=request.user, **details)
        except (RequestActionError, ValidationError) as refused:
            form.add_error(None, refused if isinstance(refused, ValidationError) else str(refused))
        else:
            messages.success(
                request, f"{export_request.reference} is filed. Next: send the addendum."
            )
            return redirect("requests_app:detail", pk=export_request.pk)
    return render(
        request, "requests_app/file.html", {"form": form, "never_exported": NEVER_EXPORTED}
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.ACCOUNT_MANAGER, Role.ADMIN)
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change what was filed, until the data team claims the request."""
    export_request = selectors.visible_request_or_404(request, pk)
    if not services.EDIT_REQUEST.may(request.user, export_request):
        raise permissions.refusal(request.user, "request.edited", export_request.pk)
    if not services.EDIT_REQUEST.applies(export_request):
        messages.error(request, "A claimed request can no longer be edited.")
        return redirect("requests_app:detail", pk=pk)
    # The form edits a copy: only the service writes the request.
    form = RequestDetailsForm(request.POST or None, instance=selectors.request_by_id(pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.export_request_edit(
                export_request_id=pk, actor=request.user, **form.cleaned_data
            )
        except (RequestActionError, ValidationError) as refused:
            form.add_error(None, refused if isinstance(refused, ValidationError) else str(refused))
        else:
            messages.success(request, f"{export_request.reference} is updated.")
            return redirect("requests_app:detail", pk=pk)
    return render(request, "requests_app/edit.html", {"r": export_request, "form": form})


def _may_read_addendum(user, export_request: ExportRequest) -> bool:
    return bool(export_request.signed_addendum) and permissions.can_manage_request(
        user, export_request
    )


@require_GET
@role_required(Role.ACCOUNT_MANAGER, Role.ADMIN)
def signed_addendum(request: HttpRequest, pk: int) -> FileResponse:
    """The signed addendum, to those who manage the request. Files are never served directly."""
    export_request = selectors.visible_request_or_404(request, pk)
    addendum = downloads.open_signed_addendum(export_request_id=pk, actor=request.user)
    if addendum is None:
        raise Http404("No signed addendum yet.")
    return FileResponse(
        addendum,
        as_attachment=True,
        filename=f"{export_request.reference}-signed-addendum.pdf",
        content_type="application/pdf",
    )


# -- audit -----------------------------------------------------------------------------------------


@require_GET
@role_required(Role.ADMIN)
def audit_page(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.audit_events(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "requests_app/audit.html", {"page": page})


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, value: str) -> str:
        return value


@require_GET
@role_required(Role.ADMIN)
def audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The audit's events as CSV, streamed: the file never sits in memory."""
    writer = csv.writer(_Echo())
    rows = audit.csv_rows(selectors.audit_events().iterator(chunk_size=500))
    stamp = timezone.now().strftime("%Y-%m-%d")
    return StreamingHttpResponse(
        (writer.writerow(row) for row in rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="export-audit-{stamp}.csv"'},
    )
