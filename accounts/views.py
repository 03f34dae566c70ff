import logging

import django_otp
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from .forms import CodeForm
from .fresh_code import code_form_if_not_fresh
from .roles import primary_role
from .two_factor import (
    base32_secret,
    check_code,
    confirm_device,
    confirmed_device,
    note_code_given,
    pending_device,
    qr_code_svg,
    requires_two_factor,
)

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own dashboard; someone with no role yet is told so."""
    role = primary_role(request.user)
    if role is None:
        return render(request, "accounts/no_role.html", status=403)
    return redirect(f"requests_app:dashboard-{role.slug}")


def _next_page(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: the code from the enrolled authenticator app."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect("accounts:enrol")
    if request.user.is_verified():
        return redirect(_next_page(request))
    form = CodeForm(request.POST or None)
    if form.is_valid():
        check = check_code(device, form.cleaned_data["code"])
        if check.accepted:
            django_otp.login(request, device)
            request.session.cycle_key()  # a new session id for the fully signed-in session
            note_code_given(request.session)
            return redirect(_next_page(request))
        logger.warning("two-factor code refused: user=%s", request.user.pk)
        form.add_error("code", check.refusal)
    return render(request, "accounts/verify.html", {"form": form, "next": _next_page(request)})


@login_required
def confirm_code(request: HttpRequest) -> HttpResponse:
    """A fresh code before a download that shows patients' names (``fresh_code_required``),
    then back to it."""
    form = code_form_if_not_fresh(request)
    if form is None:
        return redirect(_next_page(request))
    return render(
        request, "accounts/confirm_code.html", {"form": form, "next": _next_page(request)}
    )


@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), confirm with a code."""
    user = request.user
    if confirmed_device(user) is not None and not user.is_verified():
        # Only someone who has passed the current device may replace it.
        return redirect("accounts:verify")
    device = pending_device(user)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        check = confirm_device(device, form.cleaned_data["code"])
        if check.accepted:
            django_otp.login(request, device)
            request.session.cycle_key()
            note_code_given(request.session)
            logger.info("two-factor device enrolled: user=%s", user.pk)
            return redirect(_next_page(request))
        form.add_error(
            "code",
            check.refusal
            if check.wait_seconds
            else "That code does not match. Check the app and try the next one.",
        )
    context = {
        "form": form,
        "qr_svg": qr_code_svg(device),
        "secret": base32_secret(device),
        "required": requires_two_factor(user),
        "replacing": confirmed_device(user) is not None,
        "next": _next_page(request),
    }
    return render(request, "accounts/enrol.html", context)


def locked(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """django-axes' answer while too many recent failures lock a username out from an address:
    the sign-in page is refused with a page that says why and for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "accounts/locked.html", {"minutes": minutes}, status=429)
