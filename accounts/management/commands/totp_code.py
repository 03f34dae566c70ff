from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.two_factor import confirmed_device, current_code


class Command(BaseCommand):
    help = (
        "Print the current two-factor code of a user's authenticator (demo and development only: "
        "stands in for the phone app)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if settings.PRODUCTION:
            raise CommandError("totp_code refuses to run with DJANGO_ENV=production.")
        user = get_user_model().objects.filter(username=username).first()
        device = confirmed_device(user) if user is not None else None
        if device is None:
            raise CommandError(f"{username} has no enrolled authenticator.")
        self.stdout.write(current_code(device))
