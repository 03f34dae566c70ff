from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from .permissions_sync import sync_admin_permissions

        post_migrate.connect(sync_admin_permissions, dispatch_uid="accounts.sync_admin_permissions")
