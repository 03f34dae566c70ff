"""A request is shown deleted only when the backend's own final check found the delivered
location gone. Evidence without that confirmation (or confirming another location) leaves
the request delivered, with no completed deletion recorded."""

from dataclasses import replace
from datetime import timedelta

import pytest

from exports.delivery.base import DeliveryError
from exports.delivery.local import LocalFolderBackend
from exports.lifecycle import delete_delivery
from requests_app.models import ExportRequest, Status
from tests.lifecycle.conftest import DELIVERY_TIME
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db

EXPIRY = DELIVERY_TIME + timedelta(days=60)


def unconfirmed(evidence):
    """The backend deleted, but its final check that the location is gone did not run."""
    return replace(evidence, steps=tuple(s for s in evidence.steps if s.action != "confirm_absent"))


def for_another_location(evidence):
    return replace(evidence, location_id=evidence.location_id + "-elsewhere")


@pytest.mark.parametrize("doctor", [unconfirmed, for_another_location])
def test_a_deletion_the_backend_did_not_confirm_leaves_the_request_delivered(
    doctor, clock, monkeypatch, django_capture_on_commit_callbacks
):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)
    real = LocalFolderBackend.revoke_and_delete
    monkeypatch.setattr(
        LocalFolderBackend,
        "revoke_and_delete",
        lambda backend, receipt: doctor(real(backend, receipt)),
    )
    clock.move_to(EXPIRY + timedelta(minutes=5))

    with pytest.raises(DeliveryError, match="the deletion could not be confirmed"):
        delete_delivery(export_request.pk)

    export_request = ExportRequest.objects.get(pk=export_request.pk)
    assert export_request.status == Status.DELIVERED and export_request.deleted_at is None
    actions = list(export_request.events.values_list("action", flat=True))
    assert "deletion.started" in actions
    assert "deletion.completed" not in actions and "delivery.expired" not in actions


def test_a_confirmed_deletion_expires_the_request(clock, django_capture_on_commit_callbacks):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)
    clock.move_to(EXPIRY + timedelta(minutes=5))

    assert delete_delivery(export_request.pk) is not None

    assert ExportRequest.objects.get(pk=export_request.pk).status == Status.EXPIRED
