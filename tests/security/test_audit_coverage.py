"""What the audit covers besides deliveries, reveals and deletions: downloads of documents that
name people (the manifest, the signed addendum) and corrections made in the Django admin
(contacts, practices, users, roles), all on the audit page and in its CSV, without PHI."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from accounts.roles import Role
from requests_app.models import RequestEvent, Status
from tests import factories

pytestmark = pytest.mark.django_db


def audit_page(client) -> str:
    factories.sign_in(client, factories.admin())
    return client.get(reverse("requests_app:audit")).content.decode()


def audit_csv_rows(client) -> list[dict[str, str]]:
    factories.sign_in(client, factories.admin())
    response = client.get(reverse("requests_app:audit-csv"))
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def staged_manifest_job(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("Path,Bytes,SHA-256\nAlvarez Maria 1970-01-01/summary.xml,10,ab\n")
    job = factories.export_job(
        patients=1, manifest={"path": str(manifest), "files": 1, "bytes": 10, "sha256": "ab12"}
    )
    return job, job.request.claimed_by


# -- downloads -----------------------------------------------------------------------------------


def test_a_manifest_download_is_on_the_audit_page_and_in_its_csv(client, tmp_path):
    job, member = staged_manifest_job(tmp_path)
    factories.sign_in(client, member)
    assert (
        client.get(reverse("exports:manifest-download", args=[job.request_id])).status_code == 200
    )

    assert "manifest.downloaded" in audit_page(client)
    rows = [row for row in audit_csv_rows(client) if row["action"] == "manifest.downloaded"]
    assert len(rows) == 1
    assert rows[0]["request"] == job.request.reference
    assert "Alvarez" not in rows[0]["details (JSON)"]


def test_a_signed_addendum_download_is_recorded_and_audited(client):
    export_request = factories.export_request(status=Status.READY)
    manager = export_request.practice.account_manager
    factories.sign_in(client, manager)

    response = client.get(reverse("requests_app:signed-addendum", args=[export_request.pk]))

    assert response.status_code == 200
    event = export_request.events.get(action="signed_addendum.downloaded")
    assert event.actor == manager
    assert event.details == {"file_bytes": export_request.signed_addendum.size}
    assert "signed_addendum.downloaded" in audit_page(client)


def test_a_refused_signed_addendum_download_records_nothing(client):
    export_request = factories.export_request(status=Status.READY)
    factories.sign_in(client, factories.account_manager())  # manages another practice

    response = client.get(reverse("requests_app:signed-addendum", args=[export_request.pk]))

    assert response.status_code == 404
    assert not export_request.events.filter(action="signed_addendum.downloaded").exists()


# -- corrections in the Django admin -------------------------------------------------------------


def admin_events(action: str) -> list[RequestEvent]:
    return list(RequestEvent.objects.filter(action=action).order_by("id"))


def test_a_practice_corrected_in_the_admin_is_an_audit_event(client):
    practice = factories.practice()
    superuser = factories.admin(is_superuser=True)
    factories.sign_in(client, superuser)

    response = client.post(
        reverse("admin:requests_app_practice_change", args=[practice.pk]),
        {
            "name": "Harbor Pediatrics West",
            "ehr_practice_id": practice.ehr_practice_id,
            "account_manager": practice.account_manager_id,
            "active": "on",
        },
    )

    assert response.status_code == 302
    [event] = admin_events("admin.changed")
    assert event.request is None and event.actor == superuser
    assert event.details == {
        "model": "requests_app.practice",
        "object_id": str(practice.pk),
        "object": "Harbor Pediatrics West",
        "fields": ["Name"],
    }
    page = audit_page(client)
    assert "admin.changed" in page and "Harbor Pediatrics West" in page
    assert any(row["action"] == "admin.changed" for row in audit_csv_rows(client))


def test_a_contact_corrected_in_the_admin_is_on_the_audit_page_without_its_value(client):
    export_request = factories.export_request(status=Status.ADDENDUM_SENT)
    factories.sign_in(client, factories.admin(is_superuser=True))
    client.post(
        reverse("admin:requests_app_exportrequest_change", args=[export_request.pk]),
        {
            "poc_name": export_request.poc_name,
            "poc_email": "corrected.contact@example.org",
            "poc_phone": "",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )

    [row] = [r for r in audit_csv_rows(client) if r["action"] == "request.contact_corrected"]
    assert row["request"] == export_request.reference
    assert "corrected.contact" not in "".join(row.values())
    assert not admin_events("admin.changed")  # recorded once, on the request


def test_a_users_roles_changed_in_the_admin_are_recorded_as_they_now_are(client):
    person = factories.account_manager(username="casey")
    superuser = factories.admin(is_superuser=True)
    factories.sign_in(client, superuser)
    data_team = Group.objects.get(name=Role.DATA_TEAM.value)
    manager = Group.objects.get(name=Role.ACCOUNT_MANAGER.value)

    response = client.post(
        reverse("admin:auth_user_change", args=[person.pk]),
        {
            "username": "casey",
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "is_active": "on",
            "groups": [manager.pk, data_team.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    [event] = admin_events("admin.changed")
    assert event.details["model"] == "auth.user" and event.details["object"] == "casey"
    assert "Groups" in event.details["fields"]
    assert event.details["roles"] == sorted([Role.ACCOUNT_MANAGER.value, Role.DATA_TEAM.value])


def test_a_password_set_in_the_admin_is_recorded_without_the_password(client):
    person = factories.data_member()
    factories.sign_in(client, factories.admin(is_superuser=True))
    new_password = "a-brand-new-passphrase-42"

    response = client.post(
        reverse("admin:auth_user_password_change", args=[person.pk]),
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )

    assert response.status_code == 302
    [event] = admin_events("admin.changed")
    assert event.details["object_id"] == str(person.pk)
    assert new_password not in str(event.details) and event.note == ""


def test_a_role_added_and_a_person_removed_in_the_admin_are_recorded(client):
    factories.sign_in(client, factories.admin(is_superuser=True))
    client.post(reverse("admin:auth_group_add"), {"name": "Auditors"})
    leaver = User.objects.create_user("leaver", password="x" * 16)
    client.post(reverse("admin:auth_user_delete", args=[leaver.pk]), {"post": "yes"})

    [added] = admin_events("admin.added")
    assert added.details["model"] == "auth.group" and added.details["object"] == "Auditors"
    [deleted] = admin_events("admin.deleted")
    assert deleted.details == {
        "model": "auth.user",
        "object_id": str(leaver.pk),
        "object": "leaver",
    }
    assert not User.objects.filter(pk=leaver.pk).exists()


def test_objects_that_may_carry_details_of_people_are_named_by_id_only(client):
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.create(
        username="someone", ip_address="10.0.0.1", failures_since_start=5
    )
    factories.sign_in(client, factories.admin(is_superuser=True))
    client.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})

    [deleted] = admin_events("admin.deleted")
    assert deleted.details == {"model": "axes.accessattempt", "object_id": str(attempt.pk)}


def test_every_model_in_the_admin_is_audited():
    from django.contrib import admin

    from exportportal.admin_site import AuditedAdmin
    from requests_app.models import ExportRequest

    for model, model_admin in admin.site._registry.items():
        records_own = getattr(model_admin, "records_changes", True) is False
        assert isinstance(model_admin, AuditedAdmin) or records_own, model._meta.label
    assert admin.site._registry[ExportRequest].records_changes is False
