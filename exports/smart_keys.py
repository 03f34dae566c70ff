"""The portal's SMART Backend Services signing keys: created and rotated by an admin, the
public keys published as a JWKS for the EHRs to register.

Only admins manage them: the key is the portal's identity at every EHR it reads, shared by
every request, so creating or rotating it touches every practice's connection, while a
data-team member's rights are per request (the ones they claimed). The data team only needs
the public JWKS URL, which is public anyway.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from exports.models import SmartKeyRing
from exports.sources.fhir_bulk.keys import ES384, KeyRing
from exports.sources.records import SourceError
from requests_app import permissions
from requests_app.audit import portal_event_record
from requests_app.services import RequestActionError

logger = logging.getLogger(__name__)

#: the portal keeps one key ring, as it publishes one JWKS URL
RING_ID = 1


def jwks_url() -> str:
    """Where EHRs fetch the portal's public keys: the portal's public address."""
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("exports:smart-jwks")


def may_manage_signing_keys(user: AbstractBaseUser) -> bool:
    return permissions.is_admin(user)


def portal_key_ring() -> KeyRing | None:
    stored = SmartKeyRing.objects.filter(pk=RING_ID).first()
    return None if stored is None else KeyRing.from_json(stored.key_ring)


def portal_signing_key():
    """The key a FHIR Bulk source signs its client assertions with."""
    ring = portal_key_ring()
    if ring is None:
        raise SourceError(
            "the portal has no SMART signing key yet: an admin creates it on the FHIR keys page"
        )
    return ring.current


def published_jwks() -> dict:
    """The public keys (current and the previous ones kept), never a private parameter."""
    ring = portal_key_ring()
    return {"keys": []} if ring is None else ring.jwks()


def signing_keys_create(*, actor: AbstractBaseUser, algorithm: str = ES384) -> KeyRing:
    _check(actor, "smart_keys.created")
    ring = KeyRing.create(algorithm, now=timezone.now())
    try:
        with transaction.atomic():
            SmartKeyRing.objects.create(pk=RING_ID, key_ring=ring.as_json(), updated_by=actor)
            _audit(actor, "smart_keys.created", ring)
    except IntegrityError:
        raise RequestActionError("The portal already has signing keys: rotate them.") from None
    logger.info("SMART signing key %s created by user %s", ring.current.kid, actor.pk)
    return ring


@transaction.atomic
def signing_keys_rotate(*, actor: AbstractBaseUser, algorithm: str | None = None) -> KeyRing:
    """A new current key; the previous ones stay published (``keys.PUBLISHED_PREVIOUS_KEYS``)."""
    _check(actor, "smart_keys.rotated")
    stored = SmartKeyRing.objects.select_for_update().filter(pk=RING_ID).first()
    if stored is None:
        raise RequestActionError("The portal has no signing keys yet: create them first.")
    ring = KeyRing.from_json(stored.key_ring).rotate(now=timezone.now(), algorithm=algorithm)
    stored.key_ring, stored.rotated_at, stored.updated_by = ring.as_json(), timezone.now(), actor
    stored.save(update_fields=["key_ring", "rotated_at", "updated_by"])
    _audit(actor, "smart_keys.rotated", ring)
    logger.info("SMART signing key rotated to %s by user %s", ring.current.kid, actor.pk)
    return ring


def _audit(actor: AbstractBaseUser, action: str, ring: KeyRing) -> None:
    """The key's id and algorithm (public, in the JWKS), never a private parameter."""
    portal_event_record(
        actor=actor,
        action=action,
        details={"kid": ring.current.kid, "algorithm": ring.current.algorithm},
    )


def _check(actor: AbstractBaseUser, action: str) -> None:
    if not may_manage_signing_keys(actor):
        logger.warning("permission denied: user=%s action=%s", getattr(actor, "pk", None), action)
        raise PermissionDenied
