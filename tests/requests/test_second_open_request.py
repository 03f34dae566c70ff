"""Filing a second open request for a practice is allowed, but only deliberately."""

from __future__ import annotations

import pytest
from django.urls import reverse

from requests_app import services
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.page_errors import errors_at, value_of

pytestmark = pytest.mark.django_db

FILE = reverse("requests_app:file")


def filing(practice, **more):
    return {
        "practice": practice.pk,
        "poc_name": "Robin Vale",
        "poc_email": "robin@example.org",
        "categories": ["demographics"],
        "fee_currency": "USD",
        **more,
    }


def test_the_form_names_the_open_request_and_files_nothing_until_asked_again(client):
    first = factories.export_request(status=Status.ADDENDUM_SENT)
    factories.sign_in(client, first.practice.account_manager)

    response = client.post(FILE, filing(first.practice))

    assert ExportRequest.objects.count() == 1
    page = response.content.decode()
    assert f'href="{reverse("requests_app:detail", args=[first.pk])}"' in page
    assert first.reference in page
    [warning] = errors_at(response, "id_file_anyway")
    assert "already has an open request" in warning
    assert value_of(response, "poc_email") == "robin@example.org"

    client.post(FILE, filing(first.practice, file_anyway="on"))
    assert ExportRequest.objects.count() == 2


def test_a_cancelled_request_does_not_count_as_open(client):
    first = factories.export_request()
    services.export_request_cancel(
        export_request_id=first.pk, actor=first.practice.account_manager, reason="Duplicate"
    )
    factories.sign_in(client, first.practice.account_manager)
    response = client.post(FILE, filing(first.practice))
    assert response.status_code == 302
    assert ExportRequest.objects.count() == 2
