"""Lockout: repeated wrong passwords for one username from one address pause signing in."""

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from tests.factories import PASSWORD, account_manager

pytestmark = pytest.mark.django_db

LIMIT = 5  # the default AXES_FAILURE_LIMIT


def attempt(client, username, password, address="203.0.113.7", **headers):
    return client.post(
        reverse("accounts:login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        headers=headers,
    )


def test_five_wrong_passwords_lock_the_username_at_that_address_with_a_clear_page(client):
    user = account_manager()
    for _ in range(LIMIT - 1):
        assert attempt(client, user.username, "wrong").status_code == 200

    locked = attempt(client, user.username, "wrong")

    assert locked.status_code == 429
    assert b"Signing in is locked for now" in locked.content
    assert b"30 minutes" in locked.content
    # Even the right password is refused while locked.
    assert attempt(client, user.username, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_address(client):
    user, colleague = account_manager(), account_manager()
    for _ in range(LIMIT):
        attempt(client, user.username, "wrong")
    assert attempt(client, colleague.username, PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))
    assert attempt(client, user.username, PASSWORD, address="198.51.100.4").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client):
    user = account_manager()
    for _ in range(LIMIT):
        attempt(client, user.username, "wrong")
    with time_machine.travel(timedelta(minutes=31)):
        assert attempt(client, user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client):
    user = account_manager()
    for _ in range(LIMIT - 1):
        attempt(client, user.username, "wrong")
    assert attempt(client, user.username, PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))
    for _ in range(LIMIT - 1):
        assert attempt(client, user.username, "wrong").status_code == 200


@override_settings(AXES_TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_clients_own_address_is_locked_not_the_proxys(client):
    user = account_manager()
    for _ in range(LIMIT):
        attempt(client, user.username, "wrong", address="10.0.0.1", x_forwarded_for="203.0.113.7")
    # Another client through the same proxy still signs in; a spoofed left-hand entry
    # does not move the locked client elsewhere.
    ok = attempt(client, user.username, PASSWORD, address="10.0.0.1", x_forwarded_for="192.0.2.9")
    assert ok.status_code == 302
    client.post(reverse("accounts:logout"))
    spoofed = attempt(
        client, user.username, PASSWORD, address="10.0.0.1", x_forwarded_for="1.2.3.4, 203.0.113.7"
    )
    assert spoofed.status_code == 429
