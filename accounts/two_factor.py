"""Two-factor sign-in: a TOTP authenticator app (django-otp) on top of the password.

The data team and admins must have a confirmed device and verify it every session; account
managers may enrol and, once they have, must verify too. Views and middleware call these
functions; nothing else touches devices.
"""

from __future__ import annotations

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import Role, has_role

# Roles that may not use the portal on a password alone.
TWO_FACTOR_ROLES = (Role.DATA_TEAM, Role.ADMIN)
DEVICE_NAME = "Authenticator app"


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


def confirm_device(device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolment with the first code the app shows; the user's older devices go,
    so exactly one authenticator works at a time."""
    with transaction.atomic():
        if not device.verify_token(token):
            return False
        TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


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
