"""An early deletion tells the point of contact and the account manager, in plain text, with
the portal's own address, in the same transaction as the step (a rolled-back request sends
nothing), and without the admin's reason or anything the other emails do not carry."""

import pytest
from django.db import transaction

from exports.lifecycle import request_early_deletion
from outbox.models import OutboundEmail
from tests.factories import account_manager, admin
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered_request(settings, django_capture_on_commit_callbacks):
    settings.PORTAL_BASE_URL = "http://portal.example.org:8123/"
    manager = account_manager(first_name="Avery", last_name="O'Connor")
    export_request = delivered(uploading_job(manager=manager), django_capture_on_commit_callbacks)
    export_request.practice.name = "Smith & O'Brien Family Practice"
    export_request.practice.save()
    OutboundEmail.objects.all().delete()  # the delivery's own emails
    return export_request


def test_the_contact_and_the_manager_are_told_in_plain_text_with_the_portal_link(
    delivered_request, django_capture_on_commit_callbacks
):
    manager = delivered_request.practice.account_manager
    with django_capture_on_commit_callbacks(execute=False):
        request_early_deletion(
            export_request_id=delivered_request.pk,
            actor=admin(),
            reason="Patient Jane Doe's chart was included by mistake",
        )

    mail = {tuple(message.to): message for message in delivered_mail()}
    to_manager, to_contact = mail[(manager.email,)], mail[(delivered_request.poc_email,)]
    assert len(mail) == 2

    link = f"http://portal.example.org:8123/requests/{delivered_request.pk}/"
    assert to_manager.subject == (
        f"{delivered_request.reference}: access ended early by an admin "
        "(Smith & O'Brien Family Practice)"
    )
    assert link in to_manager.body and "Smith & O'Brien" in to_manager.body
    assert to_contact.subject == (
        "Access to your data export from Smith & O'Brien Family Practice has ended"
    )
    assert delivered_request.reference in to_contact.body
    assert "Avery O'Connor" in to_contact.body and manager.email in to_contact.body
    assert link not in to_contact.body, "the point of contact has no portal account"
    for message in (to_manager, to_contact):
        assert "&#x27;" not in message.body + message.subject and "&amp;" not in message.body
        assert "Jane Doe" not in message.body, "the reason stays on the request page"


def test_a_refused_or_rolled_back_early_deletion_sends_nothing(delivered_request):
    with pytest.raises(RuntimeError), transaction.atomic():
        request_early_deletion(
            export_request_id=delivered_request.pk, actor=admin(), reason="The practice asked"
        )
        raise RuntimeError("the step fails after the request")

    assert not OutboundEmail.objects.exists()
