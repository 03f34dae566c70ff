"""Middleware that keeps a signed-in person without a verified second factor to the two-factor
pages until they have verified (or, for the data team and admins, enrolled)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from .two_factor import confirmed_device, requires_two_factor

# Pages a signed-in person reaches before the second factor: the two-factor pages themselves
# and signing in and out.
_OPEN_VIEWS = frozenset({"accounts:verify", "accounts:enrol", "accounts:logout", "accounts:login"})


class TwoFactorMiddleware:
    """Sends people who must present a second factor to the verify or the enrol page.

    Runs after django-otp's OTPMiddleware (which sets ``request.user.is_verified``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in _OPEN_VIEWS:
            return None
        if confirmed_device(user) is not None:
            target = "accounts:verify"
        elif requires_two_factor(user):
            target = "accounts:enrol"
        else:
            return None  # an account manager who has not chosen to enrol
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(reverse(target))
        url = reverse(target)
        if request.method == "GET":  # come back to the page asked for
            url = f"{url}?{urlencode({'next': request.get_full_path()})}"
        return HttpResponseRedirect(url)


# Pages fetched by a page on its own (htmx polling), not by the person: they do not count as
# activity, so a page left open still signs out after SESSION_IDLE_SECONDS.
_PASSIVE_VIEWS = frozenset({"requests_app:live"})


class IdleSessionMiddleware:
    """Renews the session's expiry (SESSION_COOKIE_AGE, an inactivity timeout) on every request
    the person makes, and never on a passive poll.

    Sits after SessionMiddleware, which saves a modified session with a fresh expiry. An expired
    session is already gone (the session store refuses it), so a poll after the limit finds the
    person signed out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        passive = match is not None and match.view_name in _PASSIVE_VIEWS
        if not passive and request.session.session_key is not None:
            request.session.modified = True
        return response
