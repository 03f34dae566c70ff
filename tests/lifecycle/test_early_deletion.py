"""An admin can end access before the 60 days, with a reason and a confirmation; nobody else."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from exports.lifecycle import request_early_deletion
from requests_app.models import Status
from requests_app.services import RequestActionError
from tests.factories import account_manager, admin, data_member, sign_in
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered_request(django_capture_on_commit_callbacks):
    return delivered(uploading_job(), django_capture_on_commit_callbacks)


def url(export_request) -> str:
    return reverse("exports:early-deletion", args=[export_request.pk])


def test_an_admin_confirms_with_a_reason_and_the_data_is_deleted_at_once(
    client, delivered_request, django_capture_on_commit_callbacks
):
    boss = admin()
    sign_in(client, boss)
    folder = Path(settings.EXPORT_LOCAL_DELIVERY_DIR) / delivered_request.reference

    page = client.get(url(delivered_request)).content.decode()
    assert "End access and delete the data now" in page and "Delete now" in page

    unconfirmed = client.post(url(delivered_request), {"reason": "The practice asked"})
    assert "Tick the box to confirm the deletion." in unconfirmed.content.decode()
    assert not delivered_request.events.filter(action="deletion.requested_early").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url(delivered_request), {"reason": "The practice asked", "confirm": "on"}
        )
    assert response.status_code == 302

    delivered_request.refresh_from_db()
    assert delivered_request.status == Status.EXPIRED and not folder.exists()
    asked = delivered_request.events.get(action="deletion.requested_early")
    assert (asked.actor, asked.note) == (boss, "The practice asked")
    assert delivered_request.events.get(action="delivery.expired").details == {"early": True}
    assert delivered_request.events.filter(action="deletion.completed").exists()


def test_the_account_manager_and_the_data_team_cannot_delete_early(client, delivered_request):
    for person in (delivered_request.practice.account_manager, data_member()):
        client.logout()
        sign_in(client, person)
        assert client.get(url(delivered_request)).status_code == 403
        response = client.post(url(delivered_request), {"reason": "x", "confirm": "on"})
        assert response.status_code == 403
        with pytest.raises(PermissionDenied):
            request_early_deletion(
                export_request_id=delivered_request.pk, actor=person, reason="Asked"
            )
    delivered_request.refresh_from_db()
    assert delivered_request.status == Status.DELIVERED
    assert not delivered_request.events.filter(action="deletion.requested_early").exists()


def test_early_deletion_needs_a_reason_and_a_delivered_export():
    boss = admin()
    not_delivered = uploading_job(manager=account_manager()).request
    with pytest.raises(RequestActionError, match="only a delivered export"):
        request_early_deletion(export_request_id=not_delivered.pk, actor=boss, reason="Asked")
    with pytest.raises(RequestActionError, match="Say why"):
        request_early_deletion(export_request_id=not_delivered.pk, actor=boss, reason="  ")
