"""The pages each role works in, read as a person using them would."""

from __future__ import annotations

import csv
import io
from datetime import UTC

import pytest
from django.urls import reverse
from django.utils.timezone import localtime

from exports import lifecycle
from requests_app import services
from requests_app.catalog import EXPORTABLE_CODES, NEVER_EXPORTED
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.requests.cast import Cast

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    factories.sign_in(client, user)
    return client


def test_the_filing_form_shows_every_exportable_category_checked_and_what_is_never_exported(
    client,
):
    manager = factories.account_manager()
    factories.practice(manager)
    page = signed_in(client, manager).get(reverse("requests_app:file")).content.decode()
    for code in EXPORTABLE_CODES:
        assert f'value="{code}"' in page
    assert page.count("checked") >= len(EXPORTABLE_CODES)
    for item in NEVER_EXPORTED:
        assert item in page


def test_a_manager_files_a_request_and_lands_on_its_page(client):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    response = signed_in(client, manager).post(
        reverse("requests_app:file"),
        {
            "practice": practice.pk,
            "poc_name": "Jordan Reyes",
            "poc_email": "jordan@example.org",
            "categories": ["demographics", "medications"],
            "fee_currency": "USD",
        },
        follow=True,
    )
    filed = ExportRequest.objects.get()
    assert response.redirect_chain[-1][0] == reverse("requests_app:detail", args=[filed.pk])
    assert filed.categories == ["demographics", "medications"]
    assert filed.created_by == manager
    assert f"{filed.reference} is filed" in response.content.decode()
    assert list(filed.events.values_list("action", flat=True)) == ["request.filed"]


def test_a_manager_can_only_file_for_their_own_active_practices(client):
    manager = factories.account_manager()
    factories.practice(manager, name="Mine")
    other = factories.practice(name="Someone Else's")
    response = signed_in(client, manager).post(
        reverse("requests_app:file"),
        {
            "practice": other.pk,
            "poc_name": "X",
            "poc_email": "x@example.org",
            "categories": ["demographics"],
            "fee_currency": "USD",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ExportRequest.objects.exists()


def test_the_manager_walks_a_request_to_ready_through_the_page_buttons(client):
    manager = factories.account_manager()
    r = factories.export_request(practice_=factories.practice(manager))
    signed_in(client, manager)
    action = lambda slug: reverse("requests_app:action", args=[r.pk, slug])  # noqa: E731

    client.post(action("send-addendum"), {"send-addendum-note": "Sent by email"})
    client.post(
        action("fee"),
        {"fee-amount": "1200.00", "fee-currency": "USD", "fee-invoice_reference": "INV-77"},
    )
    with open_pdf() as pdf:
        response = client.post(
            action("signed-addendum"), {"signed-addendum-signed_addendum": pdf}, follow=True
        )

    r.refresh_from_db()
    assert r.status == Status.READY
    assert r.ready_at is not None
    assert r.fee_collected_amount == 1200 and r.invoice_reference == "INV-77"
    page = response.content.decode()
    assert "The signed addendum is recorded." in page
    assert "request.fee_collected" in page and "Sent by email" in page


def open_pdf():
    from requests_app.demo import signed_addendum_pdf

    return signed_addendum_pdf("Practice")


def test_my_requests_lists_only_my_practices_and_filters_by_status_and_search(client):
    manager = factories.account_manager()
    mine = factories.practice(manager, name="Maple Grove")
    draft = factories.export_request(practice_=mine)
    sent = factories.export_request(practice_=mine, status=Status.ADDENDUM_SENT)
    theirs = factories.export_request()
    signed_in(client, manager)
    url = reverse("requests_app:dashboard-account-manager")

    everything = client.get(url).content.decode()
    assert draft.reference in everything and sent.reference in everything
    assert theirs.reference not in everything

    only_sent = client.get(url, {"status": Status.ADDENDUM_SENT}).content.decode()
    assert sent.reference in only_sent and draft.reference not in only_sent

    by_reference = client.get(url, {"q": draft.reference}).content.decode()
    assert draft.reference in by_reference and sent.reference not in by_reference

    by_name = client.get(url, {"q": "maple"}).content.decode()
    assert draft.reference in by_name and sent.reference in by_name


def test_htmx_filtering_returns_only_the_results(client):
    manager = factories.account_manager()
    r = factories.export_request(practice_=factories.practice(manager))
    response = signed_in(client, manager).get(
        reverse("requests_app:dashboard-account-manager"),
        {"status": "open"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="request-results"')
    assert r.reference in page and "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_the_ready_queue_is_ordered_by_deadline_and_offers_claim(client):
    older = factories.export_request(status=Status.READY)
    newer = factories.export_request(status=Status.READY)
    ExportRequest.objects.filter(pk=older.pk).update(extension_days=30)  # pushed later
    page = (
        signed_in(client, factories.data_member())
        .get(reverse("requests_app:dashboard-data-team"))
        .content.decode()
    )
    assert page.index(newer.reference) < page.index(older.reference)
    assert page.count(">Claim</button>") == 2


def test_the_admin_dashboard_charts_requests_by_status_and_timeline(client):
    factories.export_request(status=Status.READY)
    factories.export_request()
    page = (
        signed_in(client, factories.admin())
        .get(reverse("requests_app:dashboard-admin"))
        .content.decode()
    )
    assert "<svg" in page and "Requests by status" in page
    assert "Ready: 1." in page and "Draft: 1." in page
    assert "On track: 1." in page


def test_the_request_page_draws_its_timeline_with_the_marks(client):
    r = factories.export_request(status=Status.READY)
    page = (
        signed_in(client, factories.admin())
        .get(reverse("requests_app:detail", args=[r.pk]))
        .content.decode()
    )
    assert 'role="img"' in page and '<title id="timeline-title">' in page
    assert "4 weeks" in page and "8 weeks" in page
    assert "Timeline as a table" in page
    assert '<h2 id="pipeline-heading">Export pipeline</h2>' in page


def audit_event(r, action, details, note=""):
    return services.record_event(
        r, actor=None, action=action, from_status=r.status, note=note, details=details
    )


def test_the_audit_lists_deliveries_and_deletions_with_readable_evidence(client):
    r = factories.export_request(status=Status.CLAIMED)
    audit_event(
        r,
        lifecycle.ACCESS_GRANTED,
        {"backend": "box", "files": [{"name": "part1.zip", "sha256": "ab12"}]},
    )
    audit_event(r, lifecycle.DELETION_COMPLETED, {"evidence": {"box_trash_id": "77"}})
    audit_event(r, "request.claimed", {"not": "shown"})
    page = signed_in(client, factories.admin()).get(reverse("requests_app:audit")).content.decode()
    assert lifecycle.ACCESS_GRANTED in page and lifecycle.DELETION_COMPLETED in page
    assert "request.claimed" not in page
    assert "files 1 / sha256" in page and "evidence / box trash id" in page


def test_the_audit_downloads_as_csv_safe_for_spreadsheets(client):
    r = factories.export_request(practice_=factories.practice(name="=HYPERLINK(1)"))
    audit_event(r, lifecycle.DELETION_COMPLETED, {"evidence": "gone"}, note="deleted on schedule")
    rows = audit_csv(signed_in(client, factories.admin()))
    assert rows[0][0] == "time (UTC)"
    assert rows[1][1:5] == [
        r.reference,
        "'=HYPERLINK(1)",
        lifecycle.DELETION_COMPLETED,
        "Export Portal",
    ]
    assert rows[1][-1] == '{"evidence": "gone"}'


def audit_csv(client) -> list[list[str]]:
    response = client.get(reverse("requests_app:audit-csv"))
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_audit_shows_who_saw_the_archive_password_and_when(client):
    r = Cast.create().request(Status.DELIVERED)
    manager = r.practice.account_manager
    signed_in(client, manager).post(reverse("exports:reveal-passwords", args=[r.pk]))
    revealed = r.events.get(action=lifecycle.PASSWORD_REVEALED)

    admin = signed_in(client, factories.admin())
    page = admin.get(reverse("requests_app:audit")).content.decode()
    assert lifecycle.PASSWORD_REVEALED in page and manager.get_full_name() in page
    assert f"{localtime(revealed.created_at):%Y-%m-%d %H:%M} UTC</time>" in page
    assert "<strong>Passwords revealed</strong>: archive password" in page

    [row] = [row for row in audit_csv(admin) if row[3] == lifecycle.PASSWORD_REVEALED]
    assert row[:5] == [
        revealed.created_at.astimezone(UTC).isoformat(),
        r.reference,
        r.practice.name,
        lifecycle.PASSWORD_REVEALED,
        manager.get_full_name(),
    ]


def test_the_unfiltered_list_shows_open_requests_on_every_page(client):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    cancelled = factories.export_request(practice_=practice)
    services.export_request_cancel(
        export_request_id=cancelled.pk, actor=manager, reason="Withdrawn"
    )
    open_one = factories.export_request(practice_=practice)
    signed_in(client, manager)
    url = reverse("requests_app:dashboard-account-manager")
    for query in ({}, {"page": "1"}):
        page = client.get(url, query).content.decode()
        assert open_one.reference in page and cancelled.reference not in page
        assert '<option value="open" selected>Open</option>' in page
    everything = client.get(url, {"status": ""}).content.decode()
    assert cancelled.reference in everything
