"""A refused form comes back with what was typed (secrets too, in the answer to that POST only)
and each error once, at its field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exports.models import SourceConnection
from requests_app.models import Status
from tests import factories
from tests.page_errors import errors_at, errors_shown, value_of

pytestmark = pytest.mark.django_db

DRCHRONO = {
    "connect-drchrono-client_id": "client-7",
    "connect-drchrono-client_secret": "s3cret-value",
    "connect-drchrono-access_token": "access-token-value",
    "connect-drchrono-refresh_token": "refresh-token-value",
    "connect-drchrono-expires_at": "not a date",
}


@pytest.fixture
def claimed_by_member():
    request = factories.export_request(status=Status.CLAIMED)
    return request, request.claimed_by


def post_drchrono(client, request):
    return client.post(
        reverse("requests_app:action", args=[request.pk, "connect-drchrono"]), DRCHRONO
    )


def test_a_bad_date_keeps_every_drchrono_field_and_says_so_once_at_the_date(
    client, claimed_by_member
):
    request, member = claimed_by_member
    factories.sign_in(client, member)
    response = post_drchrono(client, request)
    assert response.status_code == 400
    for name, value in DRCHRONO.items():
        assert value_of(response, name) == value
    assert errors_shown(response) == ["Enter a valid date/time."]
    assert errors_at(response, "id_connect-drchrono-expires_at") == ["Enter a valid date/time."]
    assert "no-store" in response["Cache-Control"]
    assert not SourceConnection.objects.filter(request=request).exists()


def test_the_typed_secrets_stay_in_that_answer_only(client, claimed_by_member):
    request, member = claimed_by_member
    factories.sign_in(client, member)
    post_drchrono(client, request)
    page = client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()
    assert "s3cret-value" not in page and "access-token-value" not in page


def test_a_bad_fee_keeps_the_rest_and_shows_the_error_once_at_the_amount(client):
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    factories.sign_in(client, r.practice.account_manager)
    response = client.post(
        reverse("requests_app:action", args=[r.pk, "fee"]),
        {"fee-amount": "-1", "fee-currency": "CAD", "fee-invoice_reference": "INV-9"},
    )
    assert errors_shown(response) == ["Ensure this value is greater than or equal to 0."]
    assert errors_at(response, "id_fee-amount") == errors_shown(response)
    assert value_of(response, "fee-invoice_reference") == "INV-9"
    assert value_of(response, "fee-currency") == "CAD"
