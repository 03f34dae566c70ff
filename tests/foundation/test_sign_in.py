"""Signing in and out, and where each role lands."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.two_factor import confirmed_device, current_code
from tests.factories import PASSWORD, UserFactory, account_manager, admin, data_member, sign_in

pytestmark = pytest.mark.django_db

DASHBOARDS = {
    Role.ACCOUNT_MANAGER: "requests_app:dashboard-account-manager",
    Role.DATA_TEAM: "requests_app:dashboard-data-team",
    Role.ADMIN: "requests_app:dashboard-admin",
}
MAKERS = {Role.ACCOUNT_MANAGER: account_manager, Role.DATA_TEAM: data_member, Role.ADMIN: admin}


def test_the_login_page_asks_for_username_and_password(client):
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content


def test_pages_send_a_signed_out_visitor_to_the_login_page(client):
    for name in [*DASHBOARDS.values(), "accounts:home"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_a_wrong_password_is_refused_with_a_message(client):
    user = account_manager()
    page = client.post(reverse("accounts:login"), {"username": user.username, "password": "wrong"})
    assert page.status_code == 200
    assert b"enter a correct username and password" in page.content
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("role", list(Role))
def test_each_role_signs_in_and_lands_on_its_own_dashboard(client, role):
    user = MAKERS[role]()
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}, follow=True
    )
    # every role gives a code as well
    assert response.redirect_chain[-1][0].startswith(reverse("accounts:verify"))
    code = current_code(confirmed_device(user))
    response = client.post(response.redirect_chain[-1][0], {"code": code}, follow=True)
    assert response.redirect_chain[-1][0] == reverse(DASHBOARDS[role])
    assert response.status_code == 200


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.DATA_TEAM])
def test_managers_and_data_team_cannot_open_another_roles_dashboard(client, role):
    sign_in(client, MAKERS[role]())
    for other, name in DASHBOARDS.items():
        expected = 200 if other == role else 403
        assert client.get(reverse(name)).status_code == expected, (role, other)


def test_admins_do_everything_the_other_roles_do_so_open_every_dashboard(client):
    sign_in(client, admin())
    for name in DASHBOARDS.values():
        assert client.get(reverse(name)).status_code == 200, name


def test_someone_without_a_role_is_told_to_ask_an_admin(client):
    sign_in(client, UserFactory())
    page = client.get(reverse("accounts:home"))
    assert page.status_code == 403
    assert b"no role yet" in page.content


def test_signing_out_ends_the_session(client):
    sign_in(client, account_manager())
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:home")).status_code == 302


def test_signing_out_needs_a_post_so_a_link_cannot_sign_someone_out(client):
    sign_in(client, account_manager())
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.get(reverse(DASHBOARDS[Role.ACCOUNT_MANAGER])).status_code == 200


def test_role_groups_exist_after_migrating():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}
