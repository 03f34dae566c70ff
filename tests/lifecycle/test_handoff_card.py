"""The handoff card the request page includes: what each person is offered."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from tests.factories import admin, data_member
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db

CARD = Template("{% load handoff %}{% delivery_handoff r %}")


def card(export_request, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return CARD.render(Context({"r": export_request, "request": request}))


def test_the_manager_may_reveal_the_passwords_and_an_admin_may_also_delete_early(
    fake_box, django_capture_on_commit_callbacks
):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)

    manager_card = card(export_request, export_request.practice.account_manager)
    assert "Show the passwords" in manager_card
    assert "shared link protected by its own password" in manager_card
    assert "End access and delete now" not in manager_card

    admin_card = card(export_request, admin())
    assert "Show the passwords" in admin_card and "End access and delete now" in admin_card

    data_card = card(export_request, data_member())
    assert "Handoff" in data_card and "Show the password" not in data_card


def test_there_is_no_card_before_delivery():
    job = uploading_job()
    assert card(job.request, admin()).strip() == ""
