"""The buttons on a request page, as a registry: each has a label, a form, a rule, and the
service it calls. The request's own are in ``request_actions``, the pipeline's in
``exports.actions``; each app registers them when it starts (its ``AppConfig.ready``).

The rule (``permissions.Rule``: who may, and when it applies) is the same one the service checks
under its row lock: the page may be stale, the service never is. Which buttons a person sees is
``requests_app.selectors.actions_for``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms as django_forms
from django.contrib.auth.models import AbstractBaseUser

from .models import ExportRequest
from .permissions import Rule

Perform = Callable[[ExportRequest, AbstractBaseUser, dict[str, Any]], ExportRequest]


@dataclass(frozen=True)
class RequestAction:
    slug: str
    label: str
    rule: Rule
    form_class: type[django_forms.Form]
    perform: Perform
    done: str
    danger: bool = False
    #: the pipeline's buttons sit on the pipeline card; the rest in "Next steps" only
    on_pipeline_card: bool = False

    def form(self, *args, **kwargs) -> django_forms.Form:
        return self.form_class(*args, prefix=self.slug, **kwargs)

    def may(self, user: AbstractBaseUser, export_request: ExportRequest) -> bool:
        return self.rule.may(user, export_request)

    def allows(self, user: AbstractBaseUser, export_request: ExportRequest) -> bool:
        return self.rule.allows(user, export_request)


#: every registered button by its slug, in the order registered (lifecycle order)
ACTIONS_BY_SLUG: dict[str, RequestAction] = {}


def register(*actions: RequestAction) -> None:
    """Add an app's buttons: offered by ``actions_for``, posted through the same checked view."""
    for action in actions:
        if action.slug in ACTIONS_BY_SLUG:
            raise ValueError(f"two request actions are called {action.slug!r}")
        ACTIONS_BY_SLUG[action.slug] = action


def with_forms(
    actions: list[RequestAction], posted: django_forms.Form | None = None
) -> list[tuple[RequestAction, django_forms.Form]]:
    """Each button with its form: a fresh one, or for the action just posted and refused the
    posted form itself, so what was typed and each error stay at their field."""
    return [
        (action, posted if posted is not None and posted.prefix == action.slug else action.form())
        for action in actions
    ]


def registered() -> list[RequestAction]:
    """Every button, this app's first (in lifecycle order), then those other apps added."""
    return list(ACTIONS_BY_SLUG.values())
