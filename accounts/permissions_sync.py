"""The role groups, and the model-level permissions the Admins group needs for the Django
admin. Per-object rights (an account manager's practices, a data-team member's claims) are
django-guardian's."""

from django.contrib.auth.models import Group, Permission

from .roles import Role

ADMIN_PERMISSIONS = {
    "auth": ["add_user", "change_user", "view_user", "view_group"],
    "requests_app": [
        "add_practice",
        "change_practice",
        "view_practice",
        "view_exportrequest",
        "change_exportrequest",
        "view_requestevent",
    ],
    "exports": ["view_workerheartbeat"],
    "outbox": ["view_outboundemail"],  # failed emails, and "Send again"
    # Removing a lost authenticator makes its owner enrol a new one at the next sign-in.
    "otp_totp": ["view_totpdevice", "delete_totpdevice"],
}


def sync_role_groups(sender=None, **kwargs) -> None:
    """Make sure every role's group exists and Admins hold their model permissions.

    The groups' data migration creates them once; this runs after every migrate and every
    test-database flush too, so a flushed database is never left without its roles."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)
    group = Group.objects.get(name=Role.ADMIN.value)
    for app_label, codenames in ADMIN_PERMISSIONS.items():
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
