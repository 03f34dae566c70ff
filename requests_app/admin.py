"""Django admin for admins: practices editable, requests read-mostly, events read-only.

Status and the lifecycle dates change only through the portal's services (which record
events); here an admin can correct a point of contact, and that correction is recorded too.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.db import transaction

from accounts.roles import Role

from . import services
from .models import ExportRequest, Practice, RequestEvent
from .text_rules import single_line_text


@admin.register(Practice)
class PracticeAdmin(admin.ModelAdmin):
    list_display = ["name", "ehr_practice_id", "account_manager", "active"]
    list_filter = ["active"]
    search_fields = ["name", "ehr_practice_id"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account_manager":
            kwargs["queryset"] = db_field.related_model.objects.filter(
                groups__name=Role.ACCOUNT_MANAGER.value, is_active=True
            ).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        previous = Practice.objects.get(pk=obj.pk).account_manager if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            services.practice_sync_manager_permission(practice=obj, previous_manager=previous)

    def has_delete_permission(self, request, obj=None):
        return False  # requests and their evidence point at practices: deactivate instead


class EvidenceIsReadOnly:
    """Events are evidence: shown, never added, changed or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RequestEventInline(EvidenceIsReadOnly, admin.TabularInline):
    model = RequestEvent
    fields = ["created_at", "action", "actor", "from_status", "to_status", "note", "details"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


CONTACT_FIELDS = ["poc_name", "poc_email", "poc_phone"]


@admin.register(ExportRequest)
class ExportRequestAdmin(admin.ModelAdmin):
    list_display = ["reference", "practice", "status", "claimed_by", "ready_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["practice__name", "practice__ehr_practice_id"]
    list_select_related = ["practice", "claimed_by"]
    inlines = [RequestEventInline]
    records_changes = False  # save_model records the contact correction on the request itself

    def get_readonly_fields(self, request, obj=None):
        every_field = [field.name for field in self.model._meta.fields]
        return [name for name in every_field if name not in CONTACT_FIELDS]

    def has_add_permission(self, request):
        return False  # filed through the portal, which records the event and rights

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if form.changed_data:
                services.record_event(
                    obj,
                    actor=request.user,
                    action="request.contact_corrected",
                    from_status=obj.status,
                    details={"fields": sorted(form.changed_data)},
                )


@admin.register(RequestEvent)
class RequestEventAdmin(EvidenceIsReadOnly, admin.ModelAdmin):
    list_display = ["created_at", "request", "action", "actor", "from_status", "to_status"]
    list_filter = ["action"]
    search_fields = ["action", "request__practice__name"]
    list_select_related = ["request", "actor"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "request",
        "actor",
        "action",
        "from_status",
        "to_status",
        "note",
        "details",
        "created_at",
    ]


class PersonNameChangeForm(UserChangeForm):
    """People's names show on every page of the portal: no control or text-direction
    characters in them (requests_app/text_rules.py), as in every other name people type."""

    def clean_first_name(self) -> str:
        return _plain_name(self.cleaned_data.get("first_name", ""))

    def clean_last_name(self) -> str:
        return _plain_name(self.cleaned_data.get("last_name", ""))


def _plain_name(value: str) -> str:
    single_line_text(value)
    return value


class PersonAdmin(UserAdmin):
    form = PersonNameChangeForm


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PersonAdmin)
