"""Who may see and act on which request. Roles come from groups; ownership from django-guardian.

- An account manager holds ``manage_practice`` on each of their practices (assigned with the
  practice) and so manages that practice's requests, and only those.
- A data-team member holds ``operate_exportrequest`` on the requests they claimed (assigned at
  claim, removed at release) and changes only those; they can read requests once ready.
- Admins may do everything.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

from accounts.roles import Role, has_role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from .models import ExportRequest, Practice

logger = logging.getLogger(__name__)

MANAGE_PRACTICE = "requests_app.manage_practice"
OPERATE_REQUEST = "requests_app.operate_exportrequest"


def refusal(
    actor: AbstractBaseUser | None, action: str, export_request_id: int
) -> PermissionDenied:
    """Log a refused action on a request, free of PHI (who, what, which request), and return
    the exception to raise."""
    logger.warning(
        "permission denied: user=%s action=%s request=%s",
        getattr(actor, "pk", None),
        action,
        export_request_id,
    )
    return PermissionDenied()


def is_admin(user: AbstractBaseUser) -> bool:
    return has_role(user, Role.ADMIN)


def can_manage_practice(user: AbstractBaseUser, practice: Practice) -> bool:
    if is_admin(user):
        return True
    return has_role(user, Role.ACCOUNT_MANAGER) and user.has_perm(MANAGE_PRACTICE, practice)


def can_manage_request(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    """The account-manager side: addendum, fee, point of contact, cancellation, password."""
    return can_manage_practice(user, export_request.practice)


def can_operate_request(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    """The data-team side, once claimed: sources, pipeline, review."""
    if is_admin(user):
        return True
    return has_role(user, Role.DATA_TEAM) and user.has_perm(OPERATE_REQUEST, export_request)


def can_claim_request(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    return has_role(user, Role.DATA_TEAM, Role.ADMIN)
