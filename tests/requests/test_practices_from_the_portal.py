"""Account managers manage their practices from the portal, not the Django admin: each sees and
changes only their own; only an admin hands a practice to another account manager."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from requests_app import services
from requests_app.models import Practice
from tests import factories
from tests.page_errors import errors_at

pytestmark = pytest.mark.django_db

PRACTICES = reverse("requests_app:practices")
ADD = reverse("requests_app:practice-add")


def edit_url(practice) -> str:
    return reverse("requests_app:practice-edit", args=[practice.pk])


def test_a_manager_adds_a_practice_from_the_list_and_files_for_it(client):
    manager = factories.account_manager()
    factories.sign_in(client, manager)
    listing = client.get(reverse("requests_app:dashboard-account-manager")).content.decode()
    assert f'href="{PRACTICES}"' in listing
    assert f'href="{ADD}"' in client.get(PRACTICES).content.decode()

    response = client.post(
        ADD, {"name": "Willow Family Care", "ehr_practice_id": "DRC-777", "active": "on"}
    )

    assert response.status_code == 302
    practice = Practice.objects.get(ehr_practice_id="DRC-777")
    assert practice.account_manager == manager
    assert manager.has_perm("requests_app.manage_practice", practice)
    page = client.get(PRACTICES).content.decode()
    assert "Willow Family Care" in page and f"?practice={practice.pk}" in page


def test_a_manager_edits_their_practice_and_a_taken_ehr_id_is_refused_at_its_field(client):
    manager = factories.account_manager()
    mine = factories.practice(manager, name="Old Name")
    taken = factories.practice()
    factories.sign_in(client, manager)
    response = client.post(
        edit_url(mine), {"name": "New Name", "ehr_practice_id": taken.ehr_practice_id}
    )
    assert errors_at(response, "id_ehr_practice_id")
    client.post(edit_url(mine), {"name": "New Name", "ehr_practice_id": mine.ehr_practice_id})
    mine.refresh_from_db()
    assert (mine.name, mine.active) == ("New Name", False)


def test_a_manager_sees_and_edits_only_their_own_practices(client):
    manager, other = factories.account_manager(), factories.account_manager()
    theirs = factories.practice(other, name="Their Practice")
    factories.sign_in(client, manager)
    assert "Their Practice" not in client.get(PRACTICES).content.decode()
    assert client.get(edit_url(theirs)).status_code == 404
    posted = client.post(edit_url(theirs), {"name": "Taken", "ehr_practice_id": "X-1"})
    assert posted.status_code == 404
    assert Practice.objects.get(pk=theirs.pk).name == "Their Practice"


def test_a_manager_cannot_give_a_practice_to_someone_else(client):
    manager, other = factories.account_manager(), factories.account_manager()
    mine = factories.practice(manager)
    factories.sign_in(client, manager)
    # The form has no account manager field for them; a forged one is ignored.
    client.post(ADD, {"name": "Forged", "ehr_practice_id": "F-1", "account_manager": other.pk})
    assert Practice.objects.get(ehr_practice_id="F-1").account_manager == manager
    with pytest.raises(PermissionDenied):
        services.practice_create(
            actor=manager, name="Forged 2", ehr_practice_id="F-2", account_manager=other
        )
    with pytest.raises(PermissionDenied):
        services.practice_update(
            practice_id=mine.pk,
            actor=manager,
            name=mine.name,
            ehr_practice_id=mine.ehr_practice_id,
            active=True,
            account_manager=other,
        )
    assert Practice.objects.get(pk=mine.pk).account_manager == manager


def test_an_admin_hands_a_practice_to_another_manager(client):
    first, second = factories.account_manager(), factories.account_manager()
    practice = factories.practice(first)
    factories.sign_in(client, factories.admin())
    client.post(
        edit_url(practice),
        {
            "name": practice.name,
            "ehr_practice_id": practice.ehr_practice_id,
            "active": "on",
            "account_manager": second.pk,
        },
    )
    practice.refresh_from_db()
    assert practice.account_manager == second
    assert second.has_perm("requests_app.manage_practice", practice)
    assert not first.has_perm("requests_app.manage_practice", practice)


def test_the_data_team_has_no_practices_page(client):
    factories.sign_in(client, factories.data_member())
    assert client.get(PRACTICES).status_code == 403
    assert client.post(ADD, {"name": "X", "ehr_practice_id": "X-9"}).status_code == 403


def test_practices_added_and_changed_in_the_portal_are_on_the_audit_page_in_words(client):
    manager = factories.account_manager()
    factories.sign_in(client, manager)
    client.post(ADD, {"name": "Willow Family Care", "ehr_practice_id": "DRC-778", "active": "on"})
    practice = Practice.objects.get(ehr_practice_id="DRC-778")
    client.post(edit_url(practice), {"name": "Willow Care", "ehr_practice_id": "DRC-778"})

    client.logout()
    factories.sign_in(client, factories.admin())
    audit = client.get(reverse("requests_app:audit")).content.decode()

    assert "Practice added" in audit and "Willow Family Care: name, ehr practice id" in audit
    assert "Practice changed" in audit and "Willow Care: name, active" in audit
