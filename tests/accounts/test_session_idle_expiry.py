"""Sign-out after inactivity (SESSION_IDLE_SECONDS): an idle session ends on the server, however
long the browser keeps its cookie; every request the person makes starts the idle clock again,
and the live progress poll a page makes by itself does not."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from requests_app.models import Status
from tests.factories import data_member, export_request, sign_in

pytestmark = pytest.mark.django_db

MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DASHBOARD = "requests_app:dashboard-data-team"


def idle_limit() -> timedelta:
    return timedelta(seconds=settings.SESSION_COOKIE_AGE)  # set from SESSION_IDLE_SECONDS


def is_signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(
        reverse("accounts:login")
    )


def test_a_user_idle_past_the_limit_is_signed_out(client):
    with time_machine.travel(MORNING, tick=False) as clock:
        sign_in(client, data_member())
        assert client.get(reverse(DASHBOARD)).status_code == 200

        clock.shift(idle_limit() + timedelta(seconds=1))

        assert is_signed_out(client.get(reverse(DASHBOARD)))
        assert "_auth_user_id" not in client.session


def test_a_user_idle_just_under_the_limit_stays_signed_in(client):
    with time_machine.travel(MORNING, tick=False) as clock:
        sign_in(client, data_member())
        client.get(reverse(DASHBOARD))

        clock.shift(idle_limit() - timedelta(seconds=5))

        assert client.get(reverse(DASHBOARD)).status_code == 200


def test_activity_keeps_the_session_alive_well_past_the_limit(client):
    with time_machine.travel(MORNING, tick=False) as clock:
        sign_in(client, data_member())
        for _ in range(4):  # a working morning: four times the limit, never idle that long
            clock.shift(idle_limit() - timedelta(minutes=1))
            assert client.get(reverse(DASHBOARD)).status_code == 200

        clock.shift(idle_limit() + timedelta(seconds=1))  # then lunch

        assert is_signed_out(client.get(reverse(DASHBOARD)))


def test_the_live_progress_poll_does_not_keep_an_unattended_page_signed_in(client):
    with time_machine.travel(MORNING, tick=False) as clock:
        member = data_member()
        request = export_request(status=Status.CLAIMED, claimed_by=member)
        poll = reverse("requests_app:live", args=[request.pk])
        sign_in(client, member)
        assert client.get(reverse(DASHBOARD)).status_code == 200  # the last thing they did

        half = idle_limit() / 2
        clock.shift(half)
        assert client.get(poll, headers={"HX-Request": "true"}).status_code == 200
        clock.shift(half + timedelta(seconds=1))

        assert is_signed_out(client.get(poll, headers={"HX-Request": "true"}))
