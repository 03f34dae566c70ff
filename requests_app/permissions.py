"""Who may see and act on which request. Roles come from groups; ownership from django-guardian.

A step on a request has a ``Rule``: who may take it (``may``) and when it applies
(``applies``). A step that is a state-machine transition takes both from the transition
(``transition_rule``): the ``@transition`` on ``ExportRequest`` is the one statement of them.
``requests_app.selectors.actions_for`` asks the rules what a person can do now; the services
check the same rules under the row lock.

- An account manager holds ``manage_practice`` on each of their practices (assigned with the
  practice) and so manages that practice's requests, and only those.
- A data-team member holds ``operate_exportrequest`` on the requests they claimed (assigned at
  claim, removed at release) and changes only those; they can read requests once ready.
- Admins may do everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django_fsm import can_proceed

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


@dataclass(frozen=True)
class Rule:
    """Who may take a step (``may``: a 403 otherwise) and whether it applies to the request as
    it is now (``applies``: otherwise the step is not offered, and refused with a message)."""

    may: Callable[[AbstractBaseUser, ExportRequest], bool]
    applies: Callable[[ExportRequest], bool]

    def allows(self, user: AbstractBaseUser, export_request: ExportRequest) -> bool:
        return self.applies(export_request) and self.may(user, export_request)


def transition_rule(*methods: str) -> Rule:
    """The rule of a step made by one of these state-machine transitions: it applies when one
    can proceed from the request's status, and the transition's own ``permission`` says who."""

    def applies(export_request: ExportRequest) -> bool:
        return any(can_proceed(getattr(export_request, method)) for method in methods)

    def may(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
        return any(
            transition.has_perm(export_request, user)
            for transition in export_request.get_all_status_transitions()
            if transition.name in methods
        )

    return Rule(may=may, applies=applies)


def may_manage_or_operate(user: AbstractBaseUser, export_request: ExportRequest) -> bool:
    return can_manage_request(user, export_request) or can_operate_request(user, export_request)
