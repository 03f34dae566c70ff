"""Emails as a request moves: the data team hears it is ready; the practice's account manager
hears it failed or was delivered. Each names the request and links to it, and carries nothing
private: no patient, no point of contact's details where not meant, no password."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from exports import pipeline
from exports.models import ExportJob
from requests_app import services
from requests_app.models import ExportRequest, Status
from tests.lifecycle.lifecycle_builders import uploading_job
from tests.mail import delivered_mail
from tests.requests.cast import Cast

pytestmark = pytest.mark.django_db

PORTAL = "https://portal.example.org"
PATIENT = "Alice Zimmerman"  # a patient's name, typed where it does not belong


@pytest.fixture(autouse=True)
def _portal_address(settings):
    settings.PORTAL_BASE_URL = PORTAL


def with_private_details(export_request: ExportRequest) -> ExportRequest:
    """The request after a manager typed a patient's name into its requirements."""
    ExportRequest.objects.filter(pk=export_request.pk).update(
        custom_requirements=f"Include the scanned chart of {PATIENT}", poc_phone="+1 555 0100"
    )
    return ExportRequest.objects.get(pk=export_request.pk)


def assert_names_the_request_and_nothing_private(message, export_request, *private: str):
    assert export_request.reference in message.subject
    assert PORTAL + reverse("requests_app:detail", args=[export_request.pk]) in message.body
    text = message.subject + message.body
    for secret in (PATIENT, export_request.poc_email, export_request.poc_phone, *private):
        assert secret not in text


def test_a_request_that_becomes_ready_is_announced_to_the_data_team(
    django_capture_on_commit_callbacks,
):
    cast = Cast.create()
    r = with_private_details(cast.request(Status.ADDENDUM_SIGNED))

    with django_capture_on_commit_callbacks(execute=True):
        services.export_request_record_fee(
            export_request_id=r.pk,
            actor=cast.manager,
            amount=Decimal("900"),
            invoice_reference="INV-9",
        )

    [message] = delivered_mail()
    assert sorted(message.to) == sorted([cast.claimant.email, cast.data.email])
    assert "ready to claim" in message.subject
    assert_names_the_request_and_nothing_private(message, r, r.poc_name)


def test_a_failed_stage_is_reported_to_the_account_manager_and_the_claimant(
    django_capture_on_commit_callbacks,
):
    cast = Cast.create()
    r = with_private_details(cast.request(Status.EXTRACTING))
    job = ExportJob.objects.get(request=r)

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.pipeline_fail(job.pk, message=f"The source refused the chart of {PATIENT}")

    [message] = delivered_mail()
    assert sorted(message.to) == sorted([cast.manager.email, cast.claimant.email])
    assert "a pipeline stage failed" in message.subject
    assert "stopped in the extracting stage" in message.body
    assert_names_the_request_and_nothing_private(message, r, r.poc_name)


def test_a_delivery_is_reported_to_the_account_manager_without_the_password(
    django_capture_on_commit_callbacks,
):
    cast = Cast.create()
    job = uploading_job(manager=cast.manager, claimed_by=cast.claimant)
    r = with_private_details(job.request)

    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.job_deliver(job.pk)

    [message] = [m for m in delivered_mail() if m.to == [cast.manager.email]]
    assert "delivered" in message.subject
    assert r.poc_name in message.body, "the manager learns who was sent the instructions"
    assert "reveal it on the request page" in message.body
    assert_names_the_request_and_nothing_private(message, r, job.archive_password)
    assert [m.to for m in delivered_mail() if m is not message] == [[r.poc_email]], "instructions"
    assert all(job.archive_password not in m.body for m in delivered_mail())


def test_plain_text_emails_show_names_as_typed_not_html_escaped(
    django_capture_on_commit_callbacks,
):
    cast = Cast.create()
    r = cast.request(Status.ADDENDUM_SIGNED)
    r.practice.name = "O'Connor & <Sons> Family Practice"
    r.practice.save()

    with django_capture_on_commit_callbacks(execute=True):
        services.export_request_record_fee(
            export_request_id=r.pk, actor=cast.manager, amount=Decimal("900"), invoice_reference="I"
        )

    [message] = delivered_mail()
    assert "O'Connor & <Sons> Family Practice" in message.subject
    assert "O'Connor & <Sons> Family Practice" in message.body
    assert "&#x27;" not in message.body and "&amp;" not in message.body
