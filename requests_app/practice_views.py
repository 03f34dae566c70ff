"""The account manager's practices, managed from the portal: listed with their open requests,
added and edited. An account manager sees and changes only their own; an admin, every one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, role_required

from . import permissions, selectors, services
from .forms import PracticeForm

MANAGERS = (Role.ACCOUNT_MANAGER, Role.ADMIN)


@require_GET
@role_required(*MANAGERS)
def practice_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "requests_app/practices.html",
        {"practices": selectors.practices_with_open_counts(request.user)},
    )


@require_http_methods(["GET", "POST"])
@role_required(*MANAGERS)
def practice_add(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        practice = _saved(
            form,
            lambda: services.practice_create(
                actor=request.user,
                name=data["name"],
                ehr_practice_id=data["ehr_practice_id"],
                account_manager=data.get("account_manager") or request.user,
            ),
        )
        if practice is not None:
            messages.success(request, f"{practice.name} is added.")
            return redirect("requests_app:practices")
    return render(request, "requests_app/practice_form.html", {"form": form, "practice": None})


@require_http_methods(["GET", "POST"])
@role_required(*MANAGERS)
def practice_edit(request: HttpRequest, pk: int) -> HttpResponse:
    practice = selectors.managed_practice_or_404(request, pk)
    form = _form(request, instance=practice)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = _saved(
            form,
            lambda: services.practice_update(
                practice_id=pk,
                actor=request.user,
                name=data["name"],
                ehr_practice_id=data["ehr_practice_id"],
                active=data["active"],
                account_manager=data.get("account_manager"),
            ),
        )
        if saved is not None:
            messages.success(request, f"{saved.name} is saved.")
            return redirect("requests_app:practices")
    return render(request, "requests_app/practice_form.html", {"form": form, "practice": practice})


def _form(request: HttpRequest, instance=None) -> PracticeForm:
    return PracticeForm(
        request.POST or None,
        instance=instance,
        may_choose_manager=permissions.is_admin(request.user),
    )


def _saved(form: PracticeForm, save):
    """What ``save`` returns, or None with its ValidationError on the form."""
    try:
        return save()
    except ValidationError as invalid:
        form.add_error(None, invalid)
        return None
