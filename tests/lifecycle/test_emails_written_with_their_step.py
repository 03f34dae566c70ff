"""An email is written to the outbox in the same transaction as the step that causes it: a
worker that dies right after the commit loses no email, and a step rolled back sends none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from exports import pipeline
from exports.models import ExportJob
from outbox.models import OutboundEmail
from requests_app import services
from requests_app.models import Status
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.requests.cast import Cast

pytestmark = pytest.mark.django_db


def queued_kinds() -> list[str]:
    return sorted(OutboundEmail.objects.values_list("kind", flat=True))


def test_the_ready_email_is_in_the_outbox_at_commit_before_any_after_commit_work(
    django_capture_on_commit_callbacks,
):
    cast = Cast.create()
    r = cast.request(Status.ADDENDUM_SIGNED)

    with django_capture_on_commit_callbacks(execute=False):  # the worker dies at the commit
        services.export_request_record_fee(
            export_request_id=r.pk, actor=cast.manager, amount=Decimal("900"), invoice_reference="I"
        )

    assert queued_kinds() == ["request_ready"]


def test_a_step_rolled_back_leaves_no_email():
    cast = Cast.create()
    r = cast.request(Status.ADDENDUM_SIGNED)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.export_request_record_fee(
            export_request_id=r.pk, actor=cast.manager, amount=Decimal("900"), invoice_reference="I"
        )
        raise RuntimeError("the step fails after the fee")

    assert queued_kinds() == []


def test_the_failure_email_is_written_with_the_failure(django_capture_on_commit_callbacks):
    cast = Cast.create()
    r = cast.request(Status.EXTRACTING)
    job = ExportJob.objects.get(request=r)

    with django_capture_on_commit_callbacks(execute=False):
        pipeline.pipeline_fail(job.pk, message="The source refused the patient list")

    assert queued_kinds() == ["request_failed"]


def test_the_delivery_emails_are_written_with_the_delivery(django_capture_on_commit_callbacks):
    job = uploading_job()

    delivered(job, django_capture_on_commit_callbacks, clean_up=False)

    assert queued_kinds() == ["delivery_instructions", "request_delivered"]
