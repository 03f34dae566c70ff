"""Reading what the portal emailed: emails wait in the outbox until a worker sends them, so a
test sends what is due, as the worker would, then reads Django's test mailbox."""

from __future__ import annotations

from smtplib import SMTPConnectError

from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from outbox.sending import send_due_emails


def delivered_mail() -> list[EmailMessage]:
    send_due_emails()
    return mail.outbox


class RefusingEmailBackend(BaseEmailBackend):
    """A mail server that is down: every send fails as a refused SMTP connection does."""

    def send_messages(self, email_messages):
        raise SMTPConnectError(421, "Service not available")
