"""The Django admin, for admins only: practices keep their manager's rights in step, requests are
read-mostly (a contact correction is recorded), events are read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from requests_app.models import Practice, RequestEvent, Status
from tests import factories

pytestmark = pytest.mark.django_db

MANAGE = "requests_app.manage_practice"


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # permission caches are per instance


def test_the_admin_role_not_the_staff_flag_opens_the_django_admin(client):
    factories.sign_in(client, factories.admin())
    assert client.get(reverse("admin:index")).status_code == 200

    staff_member = factories.data_member()
    staff_member.is_staff = True
    staff_member.save(update_fields=["is_staff"])
    factories.sign_in(client, staff_member)
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403


def test_signed_out_the_django_admin_sends_people_to_the_portals_own_sign_in(client):
    response = client.get(reverse("admin:index"), follow=True)

    final_url, _ = response.redirect_chain[-1]
    assert final_url.startswith(reverse("accounts:login"))
    assert "next=/django-admin/" in final_url
    assert b"Sign in" in response.content


def test_a_practice_added_or_reassigned_in_the_admin_moves_the_managers_rights(client):
    first, second = factories.account_manager(), factories.account_manager()
    factories.sign_in(client, factories.admin())
    response = client.post(
        reverse("admin:requests_app_practice_add"),
        {
            "name": "Harbor Pediatrics",
            "ehr_practice_id": "DRC-1",
            "account_manager": first.pk,
            "active": "on",
        },
    )
    assert response.status_code == 302
    practice = Practice.objects.get(ehr_practice_id="DRC-1")
    assert fresh(first).has_perm(MANAGE, practice)

    client.post(
        reverse("admin:requests_app_practice_change", args=[practice.pk]),
        {
            "name": "Harbor Pediatrics",
            "ehr_practice_id": "DRC-1",
            "account_manager": second.pk,
            "active": "on",
        },
    )
    assert not fresh(first).has_perm(MANAGE, practice)
    assert fresh(second).has_perm(MANAGE, practice)


def test_only_account_managers_can_be_chosen_to_manage_a_practice(client):
    data_member = factories.data_member()
    factories.sign_in(client, factories.admin())
    response = client.post(
        reverse("admin:requests_app_practice_add"),
        {"name": "X", "ehr_practice_id": "DRC-2", "account_manager": data_member.pk},
    )
    assert response.status_code == 200
    assert not Practice.objects.filter(ehr_practice_id="DRC-2").exists()


def test_a_superuser_correcting_a_contact_records_it_and_cannot_touch_the_status(client):
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    superuser = factories.admin(is_superuser=True)
    factories.sign_in(client, superuser)
    url = reverse("admin:requests_app_exportrequest_change", args=[r.pk])
    response = client.post(
        url,
        {
            "poc_name": r.poc_name,
            "poc_email": "new.contact@example.org",
            "poc_phone": "",
            "status": Status.READY,
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    r.refresh_from_db()
    assert r.poc_email == "new.contact@example.org"
    assert r.status == Status.ADDENDUM_SENT
    event = r.events.last()
    assert (event.action, event.actor, event.details) == (
        "request.contact_corrected",
        superuser,
        {"fields": ["poc_email"]},
    )


def test_request_events_cannot_be_added_changed_or_deleted_in_the_admin(client):
    r = factories.export_request()
    event = RequestEvent.objects.get(request=r)
    factories.sign_in(client, factories.admin(is_superuser=True))
    change = reverse("admin:requests_app_requestevent_change", args=[event.pk])
    assert client.get(change).status_code == 200  # readable
    assert client.get(reverse("admin:requests_app_requestevent_add")).status_code == 403
    assert client.post(change, {"action": "tampered"}).status_code == 403
    delete = reverse("admin:requests_app_requestevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:requests_app_exportrequest_add")).status_code == 403
    event.refresh_from_db()
    assert event.action == "request.filed"


def test_a_persons_name_with_a_text_direction_override_is_refused_in_the_admin(client):
    person = factories.account_manager(first_name="Avery", last_name="Manager")
    factories.sign_in(client, factories.admin())
    url = reverse("admin:auth_user_change", args=[person.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in {"password", "groups", "user_permissions"}
    }
    data.update(
        {
            "first_name": "Avery",
            "last_name": "\u202eregnaM",  # shows as "Manager" reversed
            "groups": [group.pk for group in person.groups.all()],
            "date_joined_0": person.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": person.date_joined.strftime("%H:%M:%S"),
        }
    )

    response = client.post(url, data)

    assert response.status_code == 200
    assert "invisible control or text-direction characters" in response.content.decode()
    assert fresh(person).last_name == "Manager"
