"""exports' pages: the manifest download, and after delivery the password reveal and an
admin's early deletion.

The passwords are shown once, in the answer to a POST: never in a URL, never cached, only after
a fresh second factor, and the reveal is recorded on the request (who and when; never the
password).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.fresh_code import code_form_if_not_fresh, fresh_code_required
from accounts.roles import Role, role_required
from exports import lifecycle, services
from exports import smart_keys as smart_key_service
from exports.lifecycle_forms import EarlyDeletionForm
from exports.smart_key_forms import SigningKeyForm
from requests_app.selectors import visible_request_or_404
from requests_app.services import RequestActionError


@require_GET
@never_cache
@role_required(Role.DATA_TEAM, Role.ADMIN)
@fresh_code_required  # the manifest lists patients' names and birth dates
def manifest_download(request: HttpRequest, pk: int) -> HttpResponse:
    visible_request_or_404(request, pk)
    try:
        manifest = services.manifest_download(export_request_id=pk, actor=request.user)
    except RequestActionError as refused:
        messages.error(request, str(refused))
        return redirect("requests_app:detail", pk=pk)
    return FileResponse(
        manifest, as_attachment=True, filename="manifest.csv", content_type="text/csv"
    )


@require_POST
@never_cache
@role_required(Role.ACCOUNT_MANAGER, Role.ADMIN)
def reveal_passwords(request: HttpRequest, pk: int) -> HttpResponse:
    """The archive password (and the Box link's) for the practice's account manager or an
    admin, while the export is delivered, once they have given a fresh code. htmx swaps the
    code form, then the passwords, into the handoff card."""
    export_request = visible_request_or_404(request, pk)
    asking = code_form_if_not_fresh(request)
    if asking is not None:
        template = "exports/_reveal_code.html" if request.htmx else "exports/reveal_code.html"
        return render(request, template, {"r": export_request, "form": asking})
    try:
        handoff = lifecycle.reveal_passwords(export_request_id=pk, actor=request.user)
    except RequestActionError as refused:
        messages.error(request, str(refused))
        return redirect("requests_app:detail", pk=pk)
    template = "exports/_passwords.html" if request.htmx else "exports/passwords.html"
    return render(request, template, {"r": export_request, "handoff": handoff})


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def early_deletion(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, with a reason, then end access and delete the data now."""
    export_request = visible_request_or_404(request, pk)
    if not lifecycle.DELETE_EARLY.applies(export_request):
        messages.error(request, "Only a delivered export can be deleted early.")
        return redirect("requests_app:detail", pk=pk)
    form = EarlyDeletionForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            lifecycle.request_early_deletion(
                export_request_id=pk, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except RequestActionError as refused:
            messages.error(request, str(refused))
        else:
            messages.success(
                request,
                "Access is being ended and the data deleted. The request shows expired once "
                "the deletion is confirmed.",
            )
        return redirect("requests_app:detail", pk=pk)
    return render(request, "exports/early_deletion.html", {"r": export_request, "form": form})


@require_http_methods(["GET", "POST"])
@never_cache
@role_required(Role.ADMIN)
def smart_keys(request: HttpRequest) -> HttpResponse:
    """The portal's SMART signing keys: create once, rotate later; the public JWKS URL."""
    form = SigningKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        algorithm = form.cleaned_data["algorithm"]
        try:
            if smart_key_service.portal_key_ring() is None:
                smart_key_service.signing_keys_create(actor=request.user, algorithm=algorithm)
                messages.success(
                    request, "Signing key created. Register the JWKS URL with each EHR."
                )
            else:
                smart_key_service.signing_keys_rotate(actor=request.user, algorithm=algorithm)
                messages.success(request, "Signing key rotated. The previous keys stay published.")
        except RequestActionError as refused:
            messages.error(request, str(refused))
        return redirect("exports:smart-keys")
    ring = smart_key_service.portal_key_ring()
    return render(
        request,
        "exports/smart_keys.html",
        {
            "form": form,
            "current": ring.current if ring else None,
            "previous": ring.previous if ring else (),
            "jwks_url": smart_key_service.jwks_url(),
        },
    )


@require_GET
def smart_jwks(request: HttpRequest) -> JsonResponse:
    """The portal's public keys, for EHRs to fetch: no sign-in, as it holds no secret and no
    PHI. Cached briefly, so a rotation reaches the EHRs within minutes."""
    response = JsonResponse(smart_key_service.published_jwks())
    patch_cache_control(response, public=True, max_age=300)
    return response
