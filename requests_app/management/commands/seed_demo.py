from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from requests_app.demo import seed_demo


class Command(BaseCommand):
    help = "Create demo users (new passwords each run), practices and requests. Not for production."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with DJANGO_ENV=production.")
        logins = seed_demo()
        self.stdout.write("Demo logins (passwords and authenticator keys are new each run):")
        for login in logins:
            line = f"  {login.role.title:<16} {login.username:<8} {login.password}"
            if login.totp_secret:
                line += f"  authenticator key {login.totp_secret}"
            self.stdout.write(line)
        self.stdout.write(
            "Everyone also gives a 6-digit code: add the key to an authenticator "
            "app, or print the current code with: python manage.py totp_code USERNAME"
        )
