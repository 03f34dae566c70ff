from django import template

from exports.panel import pipeline_panel_context

register = template.Library()


@register.inclusion_tag("exports/_pipeline_panel.html", takes_context=True)
def pipeline_panel(context, export_request):
    return {
        **pipeline_panel_context(
            context["request"].user, export_request, context.get("posted_form")
        ),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def duration(seconds: int | None) -> str:
    """1 h 05 min, 4 min 10 s, 12 s."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
