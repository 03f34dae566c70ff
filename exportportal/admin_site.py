"""The Django admin, for the Admins role only, signed in through the portal's own sign-in.

Django lets any ``is_staff`` user in and offers a second password form of its own. Here the
role decides, not the flag, and there is one sign-in page: the portal's, with its lockout and
second factor.

Every model registered here is audited: each addition, change and deletion made in the admin is
also recorded as an audit event (``requests_app.audit.record_admin_change``), in the admin's
own transaction, beside Django's LogEntry.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.roles import Role, has_role, log_permission_denied
from requests_app.audit import record_admin_change


class AuditedAdmin:
    """Records the admin's additions, changes and deletions as audit events, at the hooks
    where Django writes its LogEntry (so a password set on the user's password page too)."""

    def log_addition(self, request, obj, message):
        record_admin_change(actor=request.user, verb="added", obj=obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        record_admin_change(actor=request.user, verb="changed", obj=obj, change_message=message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            record_admin_change(actor=request.user, verb="deleted", obj=obj)
        return super().log_deletions(request, queryset)


class PortalAdminSite(admin.AdminSite):
    site_header = "Export Portal administration"
    site_title = "Export Portal administration"

    def register(self, model_or_iterable, admin_class=None, **options):
        """Register as Django does, with the audit hooks mixed into the ModelAdmin (unless it
        records its own, richer events: ``records_changes = False``)."""
        admin_class = admin_class or admin.ModelAdmin
        if getattr(admin_class, "records_changes", True) and not issubclass(
            admin_class, AuditedAdmin
        ):
            admin_class = type(admin_class.__name__, (AuditedAdmin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and has_role(request.user, Role.ADMIN)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.user.is_authenticated:
            if self.has_permission(request):
                return super().login(request, extra_context)  # redirects to the admin
            log_permission_denied(request, "needs=admin")
            raise PermissionDenied
        return redirect_to_login(
            request.GET.get("next", reverse("admin:index", current_app=self.name)),
            reverse("accounts:login"),
        )
