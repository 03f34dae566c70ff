"""Pages in the middle of signing in show no signed-in navigation: someone who has given a
password but no code yet sees only the step in front of them, and a way out."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, admin, data_member

pytestmark = pytest.mark.django_db


def after_the_password(client, user):
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})


def test_the_code_page_shows_no_navigation_only_sign_out(client):
    after_the_password(client, admin())

    page = client.get(reverse("accounts:verify")).content.decode()

    assert "Enter your code" in page
    assert 'aria-label="Main"' not in page
    assert "Ready queue" not in page and "Audit" not in page
    assert "Sign out" in page


def test_first_enrolment_during_sign_in_shows_no_navigation(client):
    user = data_member()
    user.totpdevice_set.all().delete()
    after_the_password(client, user)

    page = client.get(reverse("accounts:enrol")).content.decode()

    assert "Set up two-factor sign-in" in page
    assert 'aria-label="Main"' not in page
