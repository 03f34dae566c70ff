from django import template
from django.utils import timezone

from exports.plan import plan_for

register = template.Library()


@register.inclusion_tag("exports/_plan_card.html")
def export_plan(export_request):
    """The export plan on the request page (nothing before a source's test has learnt enough)."""
    now = timezone.now()
    plan = plan_for(export_request, now)
    wall = (plan.finish - now).total_seconds() if plan else None
    return {"plan": plan, "wall_seconds": wall}
