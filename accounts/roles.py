"""The three roles. A role is a Django group; per-object rights come from django-guardian."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)


class Role(enum.StrEnum):
    ACCOUNT_MANAGER = "Account managers"
    DATA_TEAM = "Data team"
    ADMIN = "Admins"

    @property
    def slug(self) -> str:
        return {
            Role.ACCOUNT_MANAGER: "account-manager",
            Role.DATA_TEAM: "data-team",
            Role.ADMIN: "admin",
        }[self]

    @property
    def title(self) -> str:
        return {
            Role.ACCOUNT_MANAGER: "Account manager",
            Role.DATA_TEAM: "Data team",
            Role.ADMIN: "Admin",
        }[self]


# When a person holds several roles, the broadest one decides where they land.
_PRECEDENCE = (Role.ADMIN, Role.DATA_TEAM, Role.ACCOUNT_MANAGER)


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._portal_roles = cached
    return cached


def primary_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    held = roles_of(user)
    return next((role for role in _PRECEDENCE if role in held), None)


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    return bool(roles_of(user) & set(roles))


def grant_role(user: AbstractBaseUser, role: Role) -> None:
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    user.__dict__.pop("_portal_roles", None)


def log_permission_denied(request: HttpRequest, reason: str) -> None:
    """One line per refusal, free of PHI: who (the user's pk) and where (the view's name)."""
    logger.warning(
        "permission denied: user=%s path_name=%s %s",
        request.user.pk,
        request.resolver_match.view_name if request.resolver_match else "?",
        reason,
    )


def role_required(*roles: Role) -> Callable:
    """View decorator: signed in (else the login page) and holding one of ``roles`` (else 403)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        from django.contrib.auth.decorators import login_required

        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not has_role(request.user, *roles):
                log_permission_denied(request, "needs=" + ",".join(role.slug for role in roles))
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
