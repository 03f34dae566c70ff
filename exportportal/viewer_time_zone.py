"""Times on pages in the viewer's own time zone.

The browser names its zone (IANA, e.g. ``America/Chicago``) in the ``tz`` cookie, set by
static/js/time-zone.js; this middleware shows the page's times in it. A missing or unknown
name leaves the portal's zone (TIME_ZONE, UTC by default). Pages print the zone beside every
time, so a page drawn before the cookie was set is still unambiguous.
"""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "tz"
_LONGEST_ZONE_NAME = 64


def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone the cookie names, or None for anything that is not a known IANA zone."""
    if not name or len(name) > _LONGEST_ZONE_NAME:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_named(request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
