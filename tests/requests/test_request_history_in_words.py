"""History for people: each event in words with the figures that matter, times in the viewer's
time zone with the zone shown, and the machine record (codes, hashes, sizes) folded away."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from requests_app import services
from requests_app.history import event_story
from requests_app.models import Status
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_fee_reads_as_money_with_its_invoice():
    story = event_story(
        "request.fee_collected",
        {"amount": "1400.00", "currency": "USD", "invoice_reference": "INV-2026-0412"},
    )

    assert story.headline == "Fee collected"
    assert story.summary == "1,400.00 USD, invoice INV-2026-0412"
    assert story.evidence == []


def test_what_a_summary_does_not_tell_stays_in_the_evidence():
    story = event_story(
        "pipeline.packaged",
        {"files": 1203, "bytes": 5_242_880, "parts": 1, "sha256": "ab" * 32},
    )

    assert story.headline == "Archive packaged"
    assert story.summary == "1,203 files, 5.0\xa0MB"
    assert story.evidence == [("sha256", "ab" * 32)]


def test_a_fhir_server_attached_reads_as_fhir_bulk_data():
    story = event_story(
        "source.connected", {"kind": "fhir-bulk", "base_url": "https://ehr.example"}
    )

    assert (story.headline, story.summary) == ("Data source attached", "FHIR Bulk Data")


def test_an_unknown_event_or_odd_details_still_read_and_lose_nothing():
    unknown = event_story("outbox.resent", {"message": 7})
    odd = event_story("password.revealed", {"passwords": 5, "job": 3})

    assert unknown.headline == "Outbox resent" and unknown.evidence == [("message", "7")]
    assert odd.headline == "Passwords revealed" and odd.summary == ""
    assert odd.evidence == [("passwords", "5"), ("job", "3")]


def fee_collected_request():
    manager = factories.account_manager()
    r = factories.export_request(
        status=Status.ADDENDUM_SIGNED, practice_=factories.practice(manager)
    )
    with time_machine.travel(datetime(2026, 1, 15, 18, 30, tzinfo=UTC), tick=False):
        services.export_request_record_fee(
            export_request_id=r.pk,
            actor=manager,
            amount=Decimal("1400"),
            invoice_reference="INV-2026-0412",
        )
    return r, manager


def test_the_request_page_tells_the_fee_in_words_and_folds_the_record(client):
    r, manager = fee_collected_request()
    factories.sign_in(client, manager)

    page = client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()

    assert "<strong>Fee collected</strong>: 1,400.00 USD, invoice INV-2026-0412" in page
    folded = r'<details class="evidence" id="event-\d+-record"><summary>Record</summary>'
    assert re.search(folded, page)
    assert "<code>request.fee_collected</code>" in page


def test_times_are_in_the_viewers_time_zone_with_the_zone_shown(client):
    r, manager = fee_collected_request()
    factories.sign_in(client, manager)
    url = reverse("requests_app:detail", args=[r.pk])

    client.cookies["tz"] = "America/Chicago"
    in_chicago = client.get(url).content.decode()
    client.cookies["tz"] = "../../etc/passwd"
    unknown_zone = client.get(url).content.decode()

    assert "2026-01-15 12:30 CST" in in_chicago
    assert "2026-01-15 18:30 UTC" in unknown_zone
