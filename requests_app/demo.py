"""Demo data for a local portal: one user per role, a few practices, requests in every state.

Histories are replayed through the real services at past times (time-machine), so every
request's events, timeline and permissions are exactly what real use would have produced.
Other apps add their own demo requests (the pipeline's: run, delivered, expired) through
``register_more``, as they add their buttons, so this app never imports them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from fpdf import FPDF

from accounts.roles import Role, grant_role
from accounts.two_factor import base32_secret, enrol_confirmed_device, requires_two_factor
from outbox.models import OutboundEmail

from . import services
from .catalog import EXPORTABLE_CODES
from .models import Practice

DEMO_USERS = (
    ("avery", "Avery", "Manager", Role.ACCOUNT_MANAGER),
    ("dana", "Dana", "Data", Role.DATA_TEAM),
    ("ada", "Ada", "Admin", Role.ADMIN),
)

DEMO_PRACTICES = (
    ("Maple Grove Family Medicine", "DRC-10041"),
    ("Harbor Pediatrics", "DRC-10077"),
    ("Summit Cardiology Associates", "DRC-10102"),
    ("Riverside Internal Medicine", "DRC-10133"),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    totp_secret: str = ""  # the authenticator key, for roles that sign in with a code


@dataclass(frozen=True)
class DemoCast:
    """The demo's people, for other apps' demo requests."""

    manager: object
    data_member: object
    admin: object


#: other apps' demo requests, by dotted path (imported only to seed: they may need the dev
#: dependencies); each seeds once and leaves what it made alone afterwards
_MORE: list[str] = []


def register_more(seed_path: str) -> None:
    _MORE.append(seed_path)


def signed_addendum_pdf(practice_name: str) -> SimpleUploadedFile:
    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(
        0, 8, f"Data export addendum\n{practice_name}\nSigned by the practice's authorised signer."
    )
    return SimpleUploadedFile(
        "signed-addendum.pdf", bytes(pdf.output()), content_type="application/pdf"
    )


def _user(username: str, first: str, last: str, role: Role) -> tuple[object, str]:
    password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    user, _ = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
    )
    user.set_password(password)
    user.is_staff = role is Role.ADMIN
    user.save()
    grant_role(user, role)
    return user, password


def seed_demo() -> list[DemoLogin]:
    """Create or refresh the demo users (new passwords and authenticator keys each time) and,
    once, the demo requests."""
    last_email = OutboundEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with transaction.atomic():
        users, logins = {}, []
        for username, first, last, role in DEMO_USERS:
            user, password = _user(username, first, last, role)
            users[role] = user
            secret = (
                base32_secret(enrol_confirmed_device(user)) if requires_two_factor(user) else ""
            )
            logins.append(DemoLogin(username, password, role, secret))
        if not Practice.objects.exists():
            _seed_requests(users[Role.ACCOUNT_MANAGER], users[Role.DATA_TEAM])
    cast = DemoCast(users[Role.ACCOUNT_MANAGER], users[Role.DATA_TEAM], users[Role.ADMIN])
    for seed_path in _MORE:  # each commits as it goes: the pipeline's steps run after a commit
        seed: Callable[[DemoCast], None] = import_string(seed_path)
        seed(cast)
    # The replayed history queued emails (ready, delivered, ...) once it committed: nobody is
    # to get them.
    OutboundEmail.objects.filter(pk__gt=last_email).delete()
    return logins


def _seed_requests(manager, data_member) -> None:
    import time_machine  # a dev dependency: needed to seed, never to serve

    practices = [
        services.practice_create(name=name, ehr_practice_id=ehr_id, account_manager=manager)
        for name, ehr_id in DEMO_PRACTICES
    ]
    now = timezone.now()

    def filed(practice: Practice, days_ago: int):
        with time_machine.travel(now - timedelta(days=days_ago), tick=False):
            return services.export_request_file(
                actor=manager,
                practice=practice,
                poc_name="Jordan Reyes",
                poc_email="office.manager@example.org",
                poc_phone="+1 555 0100",
                categories=list(EXPORTABLE_CODES),
                fee_amount=Decimal("1500.00"),
                invoice_reference=f"INV-{practice.ehr_practice_id}",
            )

    def at(days_ago: int, step, **kwargs):
        with time_machine.travel(now - timedelta(days=days_ago), tick=False):
            return step(**kwargs)

    def sign(days_ago: int, r, practice: Practice) -> None:
        at(
            days_ago,
            services.export_request_record_signed_addendum,
            export_request_id=r.pk,
            actor=manager,
            signed_addendum=signed_addendum_pdf(practice.name),
        )

    def pay(days_ago: int, r, amount: str, invoice: str) -> None:
        at(
            days_ago,
            services.export_request_record_fee,
            export_request_id=r.pk,
            actor=manager,
            amount=Decimal(amount),
            invoice_reference=invoice,
        )

    # A draft, just filed.
    filed(practices[0], 1)

    # Addendum out, waiting for the signature.
    r = filed(practices[1], 6)
    at(5, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)

    # Ready 10 days ago: on track, waiting in the queue.
    r = filed(practices[2], 20)
    at(19, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    sign(15, r, practices[2])
    pay(10, r, "1500.00", "INV-10102")

    # Ready five weeks ago, claimed: at risk.
    r = filed(practices[3], 40)
    at(39, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    pay(37, r, "2200.00", "INV-10133")
    sign(35, r, practices[3])
    at(33, services.export_request_claim, export_request_id=r.pk, actor=data_member)

    # Signed, the fee not in yet.
    r = filed(practices[1], 12)
    at(11, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    sign(9, r, practices[1])

    # The fee collected, the signature not in yet.
    r = filed(practices[2], 9)
    at(8, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    pay(7, r, "900.00", "INV-10102-B")

    # On hold while the practice finds its signer.
    r = filed(practices[3], 15)
    at(14, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    at(
        13,
        services.export_request_hold,
        export_request_id=r.pk,
        actor=manager,
        reason="The practice is looking for its authorised signer.",
    )

    # Cancelled: filed twice by mistake.
    r = filed(practices[3], 30)
    at(
        29,
        services.export_request_cancel,
        export_request_id=r.pk,
        actor=manager,
        reason="Filed twice by mistake.",
    )

    # Ready nine weeks ago and still waiting: overdue.
    r = filed(practices[0], 70)
    at(69, services.export_request_send_addendum, export_request_id=r.pk, actor=manager)
    sign(66, r, practices[0])
    pay(64, r, "1500.00", "INV-10041-B")
