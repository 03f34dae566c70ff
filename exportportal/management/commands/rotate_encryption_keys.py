"""Re-encrypt every stored secret with the newest key in FIELD_ENCRYPTION_KEYS."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from exportportal.encryption import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first (newest) key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [
                f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
            ]
            if not fields:
                continue
            # Reading decrypts with whichever key fits; writing encrypts with the newest one.
            with transaction.atomic():
                for pk, *secrets in model._base_manager.values_list("pk", *fields).iterator():
                    model._base_manager.filter(pk=pk).update(
                        **dict(zip(fields, secrets, strict=True))
                    )
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} rows with the newest key."))
