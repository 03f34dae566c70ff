"""The pipeline card as an htmx fragment, polled while the pipeline runs; the manifest."""

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.fresh_code import fresh_code_required
from accounts.roles import Role, role_required
from exports.panel import pipeline_panel_context
from exports.review import open_manifest
from requests_app.services import RequestActionError
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


@require_GET
@never_cache
@role_required(Role.DATA_TEAM, Role.ADMIN)
@fresh_code_required  # the manifest lists patients' names and birth dates
def manifest_download(request: HttpRequest, pk: int) -> HttpResponse:
    get_visible_request_or_404(request, pk)
    try:
        manifest = open_manifest(export_request_id=pk, actor=request.user)
    except RequestActionError as refused:
        messages.error(request, str(refused))
        return redirect("requests_app:detail", pk=pk)
    return FileResponse(
        manifest, as_attachment=True, filename="manifest.csv", content_type="text/csv"
    )
