"""Two-factor sign-in: everyone with a role (account managers, the data team, admins) needs a
code from an authenticator app after the password."""

import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import base32_secret, confirmed_device, current_code
from tests.factories import PASSWORD, account_manager, admin, data_member, sign_in
from tests.factories import UserFactory as _UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = {
    "data": "requests_app:dashboard-data-team",
    "admin": "requests_app:dashboard-admin",
    "manager": "requests_app:dashboard-account-manager",
}


def password_step(client, user):
    return client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})


def unenrolled(maker):
    user = maker()
    TOTPDevice.objects.filter(user=user).delete()
    return user


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():06d}"


EVERY_ROLE = pytest.mark.parametrize(
    "maker", [account_manager, data_member, admin], ids=["account manager", "data team", "admin"]
)


@EVERY_ROLE
def test_a_password_alone_opens_nothing_but_the_code_page(client, maker):
    user = maker()
    password_step(client, user)
    for name in [*DASHBOARD.values(), "requests_app:file", "requests_app:audit", "admin:index"]:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("accounts:verify"))


def test_the_right_code_signs_in_and_returns_to_the_page_asked_for(client):
    user = data_member()
    password_step(client, user)
    asked = client.get(reverse(DASHBOARD["data"]))["Location"]

    response = client.post(asked, {"code": current_code(confirmed_device(user))})

    assert response.status_code == 302
    assert response["Location"] == reverse(DASHBOARD["data"])
    assert client.get(reverse(DASHBOARD["data"])).status_code == 200


def test_a_wrong_code_is_refused_and_the_session_stays_unverified(client, caplog):
    user = admin()
    password_step(client, user)
    good = current_code(confirmed_device(user))
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"

    page = client.post(reverse("accounts:verify"), {"code": wrong})

    assert page.status_code == 200
    assert b"That code is not right" in page.content
    assert client.get(reverse(DASHBOARD["admin"])).status_code == 302
    assert f"two-factor code refused: user={user.pk}" in caplog.text


def test_a_used_code_cannot_be_replayed_in_another_session(client, django_user_model):
    from django.test import Client

    user = data_member()
    code = current_code(confirmed_device(user))
    password_step(client, user)
    assert client.post(reverse("accounts:verify"), {"code": code}).status_code == 302

    other = Client()
    password_step(other, user)
    page = other.post(reverse("accounts:verify"), {"code": code})
    assert page.status_code == 200
    assert other.get(reverse(DASHBOARD["data"])).status_code == 302


def test_repeated_wrong_codes_are_throttled(client):
    user = data_member()
    device = confirmed_device(user)
    password_step(client, user)
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    client.post(reverse("accounts:verify"), {"code": wrong})
    # Even the right code waits out the back-off django-otp imposes after a failure.
    page = client.post(reverse("accounts:verify"), {"code": current_code(device)})
    assert page.status_code == 200
    assert client.get(reverse(DASHBOARD["data"])).status_code == 302


def test_a_throttled_code_says_how_long_to_wait_rather_than_that_it_is_wrong(client):
    user = data_member()
    device = confirmed_device(user)
    password_step(client, user)
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for failure in range(3):  # waits of 1, 2 and 4 seconds, each waited out but the last
            client.post(reverse("accounts:verify"), {"code": wrong})
            clock.shift(2**failure)
        clock.shift(-4)  # the last wait (4 s) has just begun

        page = client.post(reverse("accounts:verify"), {"code": current_code(device)})

    text = page.content.decode()
    assert "Too many codes. Wait 4 seconds" in text
    assert "not right" not in text


@EVERY_ROLE
def test_without_a_device_every_role_must_enrol_first(client, maker):
    user = unenrolled(maker)
    password_step(client, user)
    response = client.get(reverse("accounts:home"))
    assert response["Location"].startswith(reverse("accounts:enrol"))
    assert client.get(reverse("accounts:verify"))["Location"] == reverse("accounts:enrol")


def test_enrolment_shows_an_inline_qr_code_and_the_key_and_confirms_with_a_code(client):
    user = unenrolled(data_member)
    password_step(client, user)

    page = client.get(reverse("accounts:enrol"))
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'<figure class="qr"[^>]*><svg [^>]*viewBox=', html)
    svg = html.split("<svg", 1)[1].split("</svg>")[0]
    assert "<img" not in html and "href" not in svg  # drawn in the page, fetched from nowhere
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    assert base32_secret(pending) in html
    # Reloading keeps the same key, so a half-scanned code stays valid.
    assert base32_secret(pending) in client.get(reverse("accounts:enrol")).content.decode()

    response = client.post(reverse("accounts:enrol"), {"code": current_code(pending)})

    assert response.status_code == 302
    assert confirmed_device(user).pk == pending.pk
    assert client.get(reverse(DASHBOARD["data"])).status_code == 200


def test_a_wrong_enrolment_code_leaves_the_device_unconfirmed(client):
    user = unenrolled(admin)
    password_step(client, user)
    client.get(reverse("accounts:enrol"))
    page = client.post(reverse("accounts:enrol"), {"code": "12345x"})
    assert page.status_code == 200
    assert confirmed_device(user) is None
    assert client.get(reverse(DASHBOARD["admin"]))["Location"].startswith(reverse("accounts:enrol"))


def test_a_password_alone_cannot_replace_an_enrolled_device(client):
    user = data_member()
    password_step(client, user)
    response = client.get(reverse("accounts:enrol"))
    assert response["Location"] == reverse("accounts:verify")
    assert not TOTPDevice.objects.filter(user=user, confirmed=False).exists()


def test_a_verified_person_replaces_their_device_and_the_old_one_stops_working(client):
    user = data_member()
    old = confirmed_device(user)
    sign_in(client, user)
    client.get(reverse("accounts:enrol"))
    new = TOTPDevice.objects.get(user=user, confirmed=False)

    client.post(reverse("accounts:enrol"), {"code": current_code(new)})

    assert confirmed_device(user).pk == new.pk
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()


def test_account_managers_enrol_and_then_verify_every_sign_in(client):
    user = unenrolled(account_manager)
    password_step(client, user)
    assert client.get(reverse(DASHBOARD["manager"]))["Location"].startswith(
        reverse("accounts:enrol")
    )

    page = client.get(reverse("accounts:enrol"))
    assert b"signing in needs a code from an authenticator app" in page.content
    pending = TOTPDevice.objects.get(user=user)
    client.post(reverse("accounts:enrol"), {"code": current_code(pending)})
    assert client.get(reverse(DASHBOARD["manager"])).status_code == 200
    client.post(reverse("accounts:logout"))

    password_step(client, user)
    assert client.get(reverse(DASHBOARD["manager"]))["Location"].startswith(
        reverse("accounts:verify")
    )


def test_someone_without_a_role_needs_no_second_factor(client):
    user = _UserFactory()
    password_step(client, user)
    assert client.get(reverse("accounts:home")).status_code == 403


def test_htmx_requests_are_redirected_by_htmx_not_swapped_with_the_code_page(client):
    user = data_member()
    password_step(client, user)
    response = client.get(reverse(DASHBOARD["data"]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("accounts:verify")


def test_the_next_page_must_be_on_this_site(client):
    user = data_member()
    password_step(client, user)
    response = client.post(
        reverse("accounts:verify") + "?next=https://evil.example/",
        {"code": current_code(confirmed_device(user))},
    )
    assert response["Location"] == reverse("accounts:home")


def test_a_code_for_a_later_time_step_is_refused(client):
    user = data_member()
    password_step(client, user)
    code = code_for(confirmed_device(user), steps_ahead=5)
    assert client.post(reverse("accounts:verify"), {"code": code}).status_code == 200


def test_an_admin_removes_a_lost_authenticator_and_its_owner_enrols_again(client):
    from django.test import Client

    member = data_member()
    device = confirmed_device(member)
    sign_in(client, admin())
    page = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert page.status_code == 302
    owner = Client()
    password_step(owner, member)
    assert owner.get(reverse(DASHBOARD["data"]))["Location"].startswith(reverse("accounts:enrol"))


def test_enrolment_is_throttled_too_and_says_how_long_to_wait(client):
    user = unenrolled(data_member)
    password_step(client, user)
    client.get(reverse("accounts:enrol"))
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = f"{(int(current_code(pending)) + 1) % 1_000_000:06d}"
    with time_machine.travel(timezone.now(), tick=False):  # the next try comes at once
        client.post(reverse("accounts:enrol"), {"code": wrong})
        page = client.post(reverse("accounts:enrol"), {"code": current_code(pending)})

    assert "Too many codes. Wait 1 seconds" in page.content.decode()
    assert confirmed_device(user) is None
