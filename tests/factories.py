"""Small factories: a user per role, a practice, a request in any lifecycle state.

Requests reach their state through the real services, so events and permissions are real.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.roles import Role, grant_role
from accounts.two_factor import (
    confirmed_device,
    enrol_confirmed_device,
    note_code_given,
    requires_two_factor,
)
from exports.models import ExportJob, ExtractBatch
from outbox.models import OutboundEmail
from requests_app import services
from requests_app.catalog import EXPORTABLE_CODES
from requests_app.demo import signed_addendum_pdf
from requests_app.models import ExportRequest, Practice, Status

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        self.save()
        if extracted:
            grant_role(self, extracted)
            if extracted is Role.ADMIN:
                self.is_staff = True
                self.save(update_fields=["is_staff"])
            if requires_two_factor(self):  # enrolled, as the portal insists before any use
                enrol_confirmed_device(self)


def account_manager(**kwargs):
    return UserFactory(role=Role.ACCOUNT_MANAGER, **kwargs)


def data_member(**kwargs):
    return UserFactory(role=Role.DATA_TEAM, **kwargs)


def admin(**kwargs):
    return UserFactory(role=Role.ADMIN, **kwargs)


def sign_in(client, user) -> None:
    """Sign ``user`` in on a Django test client as the sign-in pages would: password and,
    when the user has an authenticator, a verified code (given just now)."""
    client.force_login(user)
    device = confirmed_device(user)
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        note_code_given(session)
        session.save()


_practice_numbers = iter(range(10_000, 10**9))


def practice(manager=None, **kwargs) -> Practice:
    number = next(_practice_numbers)
    return services.practice_create(
        name=kwargs.pop("name", f"Practice {number}"),
        ehr_practice_id=kwargs.pop("ehr_practice_id", f"DRC-{number}"),
        account_manager=manager or account_manager(),
    )


def export_request(
    *, status: str = Status.DRAFT, practice_=None, claimed_by=None, **fields
) -> ExportRequest:
    """A request walked through the real services up to ``status`` (draft ... claimed)."""
    practice_ = practice_ or practice()
    manager = practice_.account_manager
    request = services.export_request_file(
        actor=manager,
        practice=practice_,
        poc_name=fields.pop("poc_name", "Jordan Reyes"),
        poc_email=fields.pop("poc_email", "poc@example.org"),
        categories=fields.pop("categories", list(EXPORTABLE_CODES)),
        **fields,
    )

    def send():
        services.export_request_send_addendum(export_request_id=request.pk, actor=manager)

    def sign():
        services.export_request_record_signed_addendum(
            export_request_id=request.pk, actor=manager, signed_addendum=signed_addendum_pdf("P")
        )

    def pay():
        services.export_request_record_fee(
            export_request_id=request.pk,
            actor=manager,
            amount=Decimal("1000"),
            invoice_reference="INV-1",
        )

    def claim():
        services.export_request_claim(
            export_request_id=request.pk, actor=claimed_by or data_member()
        )

    paths = {
        Status.DRAFT: [],
        Status.ADDENDUM_SENT: [send],
        Status.ADDENDUM_SIGNED: [send, sign],
        Status.FEE_COLLECTED: [send, pay],
        Status.READY: [send, sign, pay],
        Status.CLAIMED: [send, sign, pay, claim],
    }
    for step in paths[status]:
        step()
    # The walk is the test's setup, not something it says happened: its "ready" email (queued
    # with the fee, as every step's email is) is not one the test expects.
    OutboundEmail.objects.filter(kind="request_ready", body__contains=request.reference).delete()
    return ExportRequest.objects.get(pk=request.pk)


def export_job(*, patients: int, batch_size: int = 4, **fields):
    """An export attempt already planned into batches (no source, no files): for what the
    portal computes from the job's rows alone, such as progress. The request is extracting."""
    request = export_request(status=Status.CLAIMED)
    request = services.export_request_start_extraction(
        export_request_id=request.pk, actor=request.claimed_by, attempt=1
    )
    job = ExportJob.objects.create(
        request=request,
        attempt=1,
        staging_dir=f"/nonexistent/{request.reference}-attempt-1",
        export_date=date(2026, 1, 15),
        batch_size=batch_size,
        patient_count=patients,
        **fields,
    )
    ids = [f"P{number}" for number in range(1, patients + 1)]
    ExtractBatch.objects.bulk_create(
        ExtractBatch(
            job=job, number=start // batch_size + 1, patient_ids=ids[start : start + batch_size]
        )
        for start in range(0, patients, batch_size)
    )
    return job


def pass_connection_test(export_request: ExportRequest, actor) -> None:
    """Test the attached source through the real service, as the "Test the connection" button
    does, and insist it passed: the export starts only after a passing test."""
    import tempfile
    from pathlib import Path

    from exports import connections

    with tempfile.TemporaryDirectory() as spool:
        tested = connections.source_test_connection(
            export_request_id=export_request.pk, actor=actor, spool_dir=Path(spool)
        )
    assert tested.last_test_ok, tested.last_test_detail
