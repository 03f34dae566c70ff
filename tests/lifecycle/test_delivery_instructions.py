"""At delivery the point of contact gets an email that says how to reach the files, that the
archive needs an AES-capable tool, and that the password comes another way; never the password."""

import pytest

from exports.models import ExportJob
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db


def instructions_to_the_contact(export_request) -> str:
    [email] = [m for m in delivered_mail() if m.to == [export_request.poc_email]]
    assert "is ready to download" in email.subject
    return email.body


def test_through_box_the_email_names_the_invitation_the_link_and_the_tools(
    fake_box, django_capture_on_commit_callbacks
):
    job = uploading_job()
    export_request = delivered(job, django_capture_on_commit_callbacks)
    job = ExportJob.objects.get(pk=job.pk)

    body = instructions_to_the_contact(export_request)

    access = job.delivery_receipt["access"]
    assert f"Box folder named {export_request.reference}" in body
    assert f"Sign in to Box with this email address ({export_request.poc_email})" in body
    assert access["shared_link_url"] in body
    assert "asks for a password of its own" in body
    assert "7-Zip" in body and "AES-256" in body
    assert "The password is not in this email" in body
    assert export_request.access_expires_at.date().isoformat() in body
    assert job.archive_password not in body and job.shared_link_password not in body


def test_from_the_local_folder_the_email_does_not_send_the_contact_to_box(
    django_capture_on_commit_callbacks,
):
    job = uploading_job()
    export_request = delivered(job, django_capture_on_commit_callbacks)
    job = ExportJob.objects.get(pk=job.pk)

    body = instructions_to_the_contact(export_request)

    assert "Box" not in body
    assert f"a folder named {export_request.reference}" in body
    manager = export_request.practice.account_manager
    assert f"{manager.get_full_name()} will tell you how to collect it" in body
    assert "7-Zip" in body and "The password is not in this email" in body
    assert job.archive_password not in body
