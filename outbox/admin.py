"""The outbox in the Django admin: what was sent and what failed, read-only, with "Send again"
for failed emails (one on its page, or several from the list)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from . import sending
from .models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "subject", "state", "attempts", "last_error", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["subject"]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the record of what was told to whom

    @admin.action(description="Send the selected failed emails again")
    def send_again(self, request: HttpRequest, queryset) -> None:
        count = sending.resend(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} failed email(s) queued to be sent again.")

    def get_urls(self):
        resend = self.admin_site.admin_view(require_POST(self.resend_view))
        return [
            path("<int:pk>/resend/", resend, name="outbox_outboundemail_resend"),
            *super().get_urls(),
        ]

    def resend_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        email = get_object_or_404(OutboundEmail, pk=pk)
        if sending.resend([email.pk]):
            messages.success(request, "The email is queued to be sent again.")
        else:
            messages.error(request, "Only a failed email can be sent again.")
        return HttpResponseRedirect(reverse("admin:outbox_outboundemail_change", args=[pk]))
