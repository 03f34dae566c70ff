from django import template
from django.utils import timezone

from .. import history
from ..audit import flatten_details
from ..catalog import EXPORTABLE_CATEGORIES

register = template.Library()


@register.filter
def timeline_state(export_request):
    return export_request.timeline_state(timezone.now())


@register.filter
def readable_details(details) -> list[tuple[str, str]]:
    """An event's details JSON as label/value pairs for a definition list."""
    return flatten_details(details or {})


@register.filter
def story(event) -> history.EventStory:
    """An event told for people: headline, summary, and the evidence to fold away."""
    return history.event_story(event.action, event.details)


@register.filter
def category_labels(categories) -> list[str]:
    """Category codes as their labels, in catalogue order."""
    wanted = set(categories or ())
    return [label for code, label in EXPORTABLE_CATEGORIES if code in wanted]


@register.filter
def person(user) -> str:
    """A user's full name, else their username; a dash for nobody."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


@register.filter
def money(amount, currency: str) -> str:
    """1400 and "USD" as "1,400.00 USD"."""
    return history.money(amount, currency)


@register.filter
def fee_difference(export_request) -> str:
    """How the fee collected differs from the one quoted, in words; "" when it does not."""
    return history.fee_difference(
        export_request.fee_collected_amount,
        export_request.fee_collected_currency,
        export_request.fee_amount,
        export_request.fee_currency,
    )
