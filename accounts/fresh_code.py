"""A fresh second factor before a secret is shown: revealing an archive password or
downloading a manifest (names and birth dates) asks for a code from the authenticator app,
unless the person gave one within the last TWO_FACTOR_FRESH_SECONDS (signing in counts).

``fresh_code_required`` guards a GET download by sending the person to the code page and back;
``code_form_if_not_fresh`` lets a POST view (the htmx password reveal) ask in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .forms import CodeForm
from .two_factor import check_code, confirmed_device, note_code_given, second_factor_is_fresh

logger = logging.getLogger(__name__)


def code_form_if_not_fresh(request: HttpRequest) -> CodeForm | None:
    """None when the second factor is fresh, or is made fresh by a right ``code`` in this
    POST; otherwise the form to ask with (carrying the refusal when a code was wrong)."""
    if second_factor_is_fresh(request.session):
        return None
    device = confirmed_device(request.user)
    if request.method != "POST" or "code" not in request.POST:
        return CodeForm()
    form = CodeForm(request.POST)
    if form.is_valid():
        if device is not None:
            check = check_code(device, form.cleaned_data["code"])
            if check.accepted:
                note_code_given(request.session)
                return None
            form.add_error("code", check.refusal)
        else:  # the middleware enrols everyone with a role first; refuse rather than assume
            form.add_error("code", "Set up an authenticator app first.")
        logger.warning("fresh two-factor code refused: user=%s", request.user.pk)
    return form


def fresh_code_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """View decorator for a GET download: without a fresh second factor, the code page first,
    which comes back here once a right code is given."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not second_factor_is_fresh(request.session):
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('accounts:confirm-code')}?{query}")
        return view(request, *args, **kwargs)

    return wrapped
