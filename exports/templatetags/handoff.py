"""The handoff card on the request page: access, the password reveal, early deletion."""

from django import template

from exports import passwords
from exports.lifecycle import DELETE_EARLY, REVEAL_PASSWORDS
from exports.selectors import delivered_job

register = template.Library()


@register.inclusion_tag("exports/_handoff.html", takes_context=True)
def delivery_handoff(context, export_request):
    """``{% load handoff %}{% delivery_handoff r %}``: shown while the export is delivered."""
    user = context["request"].user
    job = delivered_job(export_request) if REVEAL_PASSWORDS.applies(export_request) else None
    return {
        "r": export_request,
        "job": job,
        "access": (job.delivery_receipt or {}).get("access", {}) if job else {},
        "may_reveal": job is not None and REVEAL_PASSWORDS.may(user, export_request),
        "may_delete_early": DELETE_EARLY.allows(user, export_request),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def password_words(password: str) -> list[str]:
    """A passphrase's words, so the page shows them apart for reading out by phone."""
    return passwords.password_words(password)
