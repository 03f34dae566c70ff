"""An account manager edits a request until it is claimed; an admin assigns or hands over its
owner. Each is audited in History, in words, and each guard holds."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role, grant_role
from requests_app import history, services
from requests_app.models import ExportRequest, Status
from tests import factories

pytestmark = pytest.mark.django_db


def edit_url(r) -> str:
    return reverse("requests_app:edit", args=[r.pk])


def details_of(r, **overrides) -> dict:
    return {
        "poc_name": r.poc_name,
        "poc_email": r.poc_email,
        "poc_phone": r.poc_phone,
        "categories": r.categories,
        "custom_requirements": r.custom_requirements,
        "fee_amount": "" if r.fee_amount is None else r.fee_amount,
        "fee_currency": r.fee_currency,
        **overrides,
    }


def test_the_manager_edits_an_unclaimed_request_from_its_page(client):
    r = factories.export_request(status=Status.READY)
    factories.sign_in(client, r.practice.account_manager)
    page = client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()
    assert f'href="{edit_url(r)}"' in page

    response = client.post(edit_url(r), details_of(r, poc_email="new.contact@example.org"))

    assert response.status_code == 302
    r.refresh_from_db()
    assert r.poc_email == "new.contact@example.org"
    event = r.events.get(action="request.edited")
    told = history.event_story(event.action, event.details)
    assert (told.headline, told.summary) == ("Request edited", "point of contact's email")


def test_a_claimed_request_cannot_be_edited(client):
    r = factories.export_request(status=Status.CLAIMED)
    factories.sign_in(client, r.practice.account_manager)
    page = client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()
    assert edit_url(r) not in page
    client.post(edit_url(r), details_of(r, poc_email="late@example.org"))
    with pytest.raises(services.RequestActionError):
        services.export_request_edit(
            export_request_id=r.pk, actor=r.practice.account_manager, poc_name="Late"
        )
    assert ExportRequest.objects.get(pk=r.pk).poc_email == "poc@example.org"


def test_another_manager_neither_sees_nor_edits_the_request(client):
    r = factories.export_request()
    factories.sign_in(client, factories.account_manager())
    assert client.get(edit_url(r)).status_code == 404
    assert client.post(edit_url(r), details_of(r, poc_name="Intruder")).status_code == 404
    assert ExportRequest.objects.get(pk=r.pk).poc_name == "Jordan Reyes"


def data_member_reading_every_ready_request():
    return factories.data_member()


def manager_also_on_the_data_team():
    both = factories.account_manager()
    grant_role(both, Role.DATA_TEAM)  # reads every ready request, manages none of these
    return both


@pytest.mark.parametrize(
    "person", [data_member_reading_every_ready_request, manager_also_on_the_data_team]
)
def test_who_reads_a_request_but_does_not_manage_it_cannot_edit_it(client, person):
    r = factories.export_request(status=Status.READY)
    factories.sign_in(client, person())
    assert client.get(edit_url(r)).status_code == 403
    assert client.post(edit_url(r), details_of(r, poc_name="Intruder")).status_code == 403
    assert ExportRequest.objects.get(pk=r.pk).poc_name == "Jordan Reyes"


def assign(client, r, owner):
    return client.post(
        reverse("requests_app:action", args=[r.pk, "assign-owner"]),
        {"assign-owner-owner": owner.pk, "assign-owner-note": ""},
    )


def test_an_admin_assigns_a_ready_request_then_hands_it_over(client):
    r = factories.export_request(status=Status.READY)
    admin, first, second = factories.admin(), factories.data_member(), factories.data_member()
    factories.sign_in(client, admin)
    assert (
        "Assign the owner"
        in client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()
    )

    assign(client, r, first)
    r.refresh_from_db()
    assert (r.status, r.claimed_by) == (Status.CLAIMED, first)

    assign(client, r, second)
    r.refresh_from_db()
    assert r.claimed_by == second
    assert second.has_perm("requests_app.operate_exportrequest", r)
    assert not first.has_perm("requests_app.operate_exportrequest", r)
    event = r.events.filter(action="request.owner_assigned").last()
    told = history.event_story(event.action, event.details)
    assert told.headline == "Owner assigned"
    assert told.summary == f"to {second.get_full_name() or second.username}, was " + (
        first.get_full_name() or first.username
    )


@pytest.mark.parametrize("who", ["account_manager", "data_member"])
def test_only_an_admin_assigns_the_owner(client, who):
    r = factories.export_request(status=Status.READY)
    member = factories.data_member()
    person = r.practice.account_manager if who == "account_manager" else factories.data_member()
    factories.sign_in(client, person)
    assert assign(client, r, member).status_code == 403
    assert ExportRequest.objects.get(pk=r.pk).claimed_by is None


def test_only_a_data_team_member_can_own_a_request():
    r = factories.export_request(status=Status.READY)
    with pytest.raises(services.RequestActionError, match="data team"):
        services.export_request_assign_owner(
            export_request_id=r.pk, actor=factories.admin(), owner=factories.account_manager()
        )
