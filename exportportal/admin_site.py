"""The Django admin, for the Admins role only, signed in through the portal's own sign-in.

Django lets any ``is_staff`` user in and offers a second password form of its own. Here the
role decides, not the flag, and there is one sign-in page: the portal's, with its lockout and
second factor.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.roles import Role, has_role, log_permission_denied


class PortalAdminSite(admin.AdminSite):
    site_header = "Export Portal administration"
    site_title = "Export Portal administration"

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
