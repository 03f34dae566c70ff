"""Which address a sign-in attempt came from, for django-axes' lockout per username and address.

Behind a reverse proxy every request arrives from the proxy; the client's address is then the
entry the trusted proxies appended to X-Forwarded-For, counted from the right (entries further
left are whatever the client chose to send).
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    proxies = settings.AXES_TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
