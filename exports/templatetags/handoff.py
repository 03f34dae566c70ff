"""The handoff card on the request page: access, the password reveal, early deletion, and the
proof of deletion once access has ended."""

from django import template

from exports import passwords
from exports.handoff import handoff_context, handoff_steps

register = template.Library()


@register.inclusion_tag("exports/_handoff.html", takes_context=True)
def delivery_handoff(context, export_request):
    """``{% load handoff %}{% delivery_handoff r %}``: shown once the export is delivered."""
    return {
        **handoff_context(context["request"].user, export_request),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag(takes_context=True)
def delivery_handoff_steps(context, export_request):
    """``{% delivery_handoff_steps r as steps %}``: the handoff card's steps, for "Next steps"."""
    return handoff_steps(context["request"].user, export_request)


@register.filter
def password_words(password: str) -> list[str]:
    """A passphrase's words, so the page shows them apart for reading out by phone."""
    return passwords.password_words(password)
