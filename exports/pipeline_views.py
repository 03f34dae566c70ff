"""The pipeline card as an htmx fragment, polled while the pipeline runs."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Role, role_required
from exports.panel import pipeline_panel_context
from requests_app.views import get_visible_request_or_404


@require_GET
@never_cache
@role_required(Role.ACCOUNT_MANAGER, Role.DATA_TEAM, Role.ADMIN)
def pipeline_panel(request: HttpRequest, pk: int) -> HttpResponse:
    export_request = get_visible_request_or_404(request, pk)
    return render(
        request,
        "exports/_pipeline_panel.html",
        pipeline_panel_context(request.user, export_request),
    )
