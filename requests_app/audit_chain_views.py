"""The admin's page that verifies the audit trail's hash chain on demand."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.roles import Role, role_required

from .audit_checkpoints import verify


@require_GET
@role_required(Role.ADMIN)
def audit_chain_page(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain now, against the checkpoints, and say whether it holds, or where
    it first breaks."""
    report = verify()
    return render(
        request,
        "requests_app/audit_chain.html",
        {"report": report},
        status=200 if report.intact else 409,
    )
