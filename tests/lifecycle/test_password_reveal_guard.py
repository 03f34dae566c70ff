"""Revealing a delivered export's passwords is for the practice's account manager or an admin.
A person who is both an account manager (of another practice) and a data-team member can see
the request (they ran it) and holds the account-manager role, yet the service refuses them."""

import logging

import pytest
from django.core.exceptions import PermissionDenied

from accounts.roles import Role, grant_role
from exports.lifecycle import reveal_passwords
from requests_app import selectors
from tests.factories import account_manager, admin, practice
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def both_roles():
    """Manages a practice of their own, and is on the data team."""
    person = account_manager()
    practice(person)
    grant_role(person, Role.DATA_TEAM)
    return person


def test_a_manager_and_data_team_member_cannot_reveal_another_practices_passwords(
    both_roles, caplog, django_capture_on_commit_callbacks
):
    job = uploading_job(claimed_by=both_roles)
    export_request = delivered(job, django_capture_on_commit_callbacks)
    assert selectors.requests_visible_to(both_roles).filter(pk=export_request.pk).exists()

    with pytest.raises(PermissionDenied), caplog.at_level(logging.WARNING):
        reveal_passwords(export_request_id=export_request.pk, actor=both_roles)

    assert not export_request.events.filter(action="password.revealed").exists()
    refusal = f"permission denied: user={both_roles.pk} action=password.revealed request="
    assert f"{refusal}{export_request.pk}" in caplog.messages


def test_the_practices_own_manager_and_an_admin_may_reveal(django_capture_on_commit_callbacks):
    job = uploading_job()
    export_request = delivered(job, django_capture_on_commit_callbacks)

    for person in (export_request.practice.account_manager, admin()):
        assert reveal_passwords(export_request_id=export_request.pk, actor=person).archive_password

    assert export_request.events.filter(action="password.revealed").count() == 2
