"""The handoff card on the request page: access, the password reveal, early deletion."""

from django import template

from exports.selectors import delivered_job
from requests_app import permissions
from requests_app.models import Status

register = template.Library()


@register.inclusion_tag("exports/_handoff.html", takes_context=True)
def delivery_handoff(context, export_request):
    """``{% load handoff %}{% delivery_handoff r %}``: shown while the export is delivered."""
    user = context["request"].user
    delivered = export_request.status == Status.DELIVERED
    job = delivered_job(export_request) if delivered else None
    return {
        "r": export_request,
        "job": job,
        "access": (job.delivery_receipt or {}).get("access", {}) if job else {},
        "may_reveal": job is not None and permissions.can_manage_request(user, export_request),
        "may_delete_early": delivered and permissions.is_admin(user),
        "csrf_token": context.get("csrf_token"),
    }
