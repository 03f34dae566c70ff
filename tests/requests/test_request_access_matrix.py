"""Who may open which page and press which button: each role, on their own request and on
someone else's. A request a person may not see is a 404; a step on a request they see but may
not take is a 403; an allowed step redirects to the request page and records an event."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from requests_app.models import Status
from tests.factories import sign_in
from tests.requests.cast import HELD, Cast, form_data

pytestmark = pytest.mark.django_db

S = Status
ROLES = ("manager", "claimant", "admin")  # the account manager, a data-team member, an admin
OK, DONE = 200, 302

PAGES = {
    # page: expected status for account manager, data team, admin
    "dashboard-account-manager": (OK, 403, OK),
    "dashboard-data-team": (403, OK, OK),
    "dashboard-admin": (403, 403, OK),
    "file": (OK, 403, OK),
    "audit": (403, 403, OK),
    "audit-csv": (403, 403, OK),
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_pages_without_a_request(client, page, role):
    cast = Cast.create()
    sign_in(client, getattr(cast, role))
    response = client.get(reverse(f"requests_app:{page}"))
    assert response.status_code == PAGES[page][ROLES.index(role)]


@pytest.mark.parametrize("page", [*PAGES, "detail"])
def test_signed_out_people_are_sent_to_sign_in(client, page):
    args = [Cast.create().request(S.DRAFT).pk] if page == "detail" else []
    response = client.get(reverse(f"requests_app:{page}", args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


DETAIL = {
    # request state: (own, other) for account manager, data team, admin
    S.DRAFT: ((OK, 404), (404, 404), (OK, OK)),
    S.READY: ((OK, 404), (OK, OK), (OK, OK)),
    S.CLAIMED: ((OK, 404), (OK, OK), (OK, OK)),
}


@pytest.mark.parametrize("own", [True, False], ids=["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", DETAIL)
def test_the_request_page(client, state, role, own):
    cast = Cast.create()
    r = cast.request(state, own=own)
    sign_in(client, getattr(cast, role))
    response = client.get(reverse("requests_app:detail", args=[r.pk]))
    assert response.status_code == DETAIL[state][ROLES.index(role)][0 if own else 1]


ACTIONS = {
    # action: (the state it applies in, (own, other) for account manager, data team, admin)
    "send-addendum": (S.DRAFT, ((DONE, 404), (404, 404), (DONE, DONE))),
    "signed-addendum": (S.ADDENDUM_SENT, ((DONE, 404), (404, 404), (DONE, DONE))),
    "fee": (S.ADDENDUM_SENT, ((DONE, 404), (404, 404), (DONE, DONE))),
    "claim": (S.READY, ((403, 404), (DONE, DONE), (DONE, DONE))),
    "release": (S.CLAIMED, ((403, 404), (DONE, 403), (DONE, DONE))),
    "hold": (S.CLAIMED, ((DONE, 404), (DONE, 403), (DONE, DONE))),
    "resume": (HELD, ((DONE, 404), (DONE, 403), (DONE, DONE))),
    "cancel": (S.READY, ((DONE, 404), (403, 403), (DONE, DONE))),
    "extend": (S.READY, ((403, 404), (403, 403), (DONE, DONE))),
}


@pytest.mark.parametrize("own", [True, False], ids=["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_the_request_page_actions(client, caplog, action, role, own):
    cast = Cast.create()
    state, expected = ACTIONS[action]
    r = cast.request(state, own=own)
    events = r.events.count()
    sign_in(client, getattr(cast, role))

    with caplog.at_level(logging.WARNING):
        response = client.post(
            reverse("requests_app:action", args=[r.pk, action]), form_data(action)
        )

    status = expected[ROLES.index(role)][0 if own else 1]
    assert response.status_code == status
    if status == DONE:
        assert response["Location"] == reverse("requests_app:detail", args=[r.pk])
        assert r.events.count() == events + 1
    else:
        assert r.events.count() == events
    if status == 403:
        assert f"permission denied: user={getattr(cast, role).pk}" in caplog.text


SIGNED_ADDENDUM = ((OK, 404), (403, 403), (OK, OK))


@pytest.mark.parametrize("own", [True, False], ids=["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_the_signed_addendum_download(client, role, own):
    cast = Cast.create()
    r = cast.request(S.READY, own=own)
    sign_in(client, getattr(cast, role))
    response = client.get(reverse("requests_app:signed-addendum", args=[r.pk]))
    assert response.status_code == SIGNED_ADDENDUM[ROLES.index(role)][0 if own else 1]
    if response.status_code == OK:
        assert b"".join(response.streaming_content).startswith(b"%PDF-")


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_refuse_get(client, action):
    cast = Cast.create()
    r = cast.request(ACTIONS[action][0])
    sign_in(client, cast.admin)
    assert client.get(reverse("requests_app:action", args=[r.pk, action])).status_code == 405


def test_an_unknown_action_is_not_found(client):
    cast = Cast.create()
    sign_in(client, cast.admin)
    r = cast.request(S.DRAFT)
    assert client.post(reverse("requests_app:action", args=[r.pk, "delete"])).status_code == 404
