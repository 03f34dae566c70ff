"""Two-factor sign-in: a TOTP authenticator app (django-otp) on top of the password.

Everyone with a role (account managers, the data team, admins) must have a confirmed device and
verify it every session. Revealing a secret asks again unless a code was given within the last
few minutes (``fresh_second_factor``). Views and middleware call these functions; nothing else
touches devices.
"""

from __future__ import annotations

import math
import time
from base64 import b32encode
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import Role, has_role

# Roles that may not use the portal on a password alone: all of them, since every role reaches
# patient data or the passwords that open it.
TWO_FACTOR_ROLES = tuple(Role)
DEVICE_NAME = "Authenticator app"
# When the person last gave a right code in this session (seconds since the epoch).
_CODE_GIVEN_AT_SESSION_KEY = "two_factor_code_given_at"


def requires_two_factor(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether ``user`` must have an enrolled device before using the portal."""
    return has_role(user, *TWO_FACTOR_ROLES)


def confirmed_device(user: AbstractBaseUser) -> TOTPDevice | None:
    """The user's enrolled authenticator, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def pending_device(user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed device enrolment shows, made on first use and kept across page loads
    so the QR code does not change while the person is scanning it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a code: accepted, or refused; ``wait_seconds`` > 0 when it was not even
    checked because too many wrong codes came just before."""

    accepted: bool
    wait_seconds: int = 0

    @property
    def refusal(self) -> str:
        if self.wait_seconds:
            return f"Too many codes. Wait {self.wait_seconds} seconds, then try the next one."
        return "That code is not right, or has been used. Try the next one."


def check_code(device: TOTPDevice, token: str) -> CodeCheck:
    """Verify ``token`` against ``device``, honouring django-otp's throttle (each wrong code
    doubles the wait before the next is checked)."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        locked_until = (details or {}).get("locked_until")
        remaining = (locked_until - timezone.now()).total_seconds() if locked_until else 1
        return CodeCheck(accepted=False, wait_seconds=max(1, math.ceil(remaining)))
    return CodeCheck(accepted=device.verify_token(token))


def confirm_device(device: TOTPDevice, token: str) -> CodeCheck:
    """Confirm an enrolment with the first code the app shows; the user's older devices go,
    so exactly one authenticator works at a time."""
    with transaction.atomic():
        check = check_code(device, token)
        if check.accepted:
            TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
    return check


def note_code_given(session: SessionBase) -> None:
    """Remember that a right code was given just now in this session."""
    session[_CODE_GIVEN_AT_SESSION_KEY] = time.time()


def second_factor_is_fresh(session: SessionBase) -> bool:
    """Whether a right code was given in this session within TWO_FACTOR_FRESH_SECONDS."""
    given_at = session.get(_CODE_GIVEN_AT_SESSION_KEY)
    if given_at is None:
        return False
    age = time.time() - given_at
    return 0 <= age <= settings.TWO_FACTOR_FRESH_SECONDS


def enrol_confirmed_device(user: AbstractBaseUser) -> TOTPDevice:
    """Give ``user`` a new confirmed device at once, replacing any other (demo and tests: the
    secret is handed out of band instead of scanned)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)


def base32_secret(device: TOTPDevice) -> str:
    """The device's key as authenticator apps take it when typed in by hand."""
    return b32encode(device.bin_key).decode("ascii")


def current_code(device: TOTPDevice) -> str:
    """The code the device's authenticator app shows right now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def qr_code_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (no image request, no service)."""
    image = qrcode.make(
        device.config_url,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    return image.to_string(encoding="unicode")
