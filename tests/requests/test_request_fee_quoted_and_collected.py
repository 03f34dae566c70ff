"""The fee: what was quoted at filing and what was collected are both kept and shown, and a
difference between them is flagged on the page and told in words in the history."""

from decimal import Decimal

import pytest
from django.urls import reverse

from requests_app import services
from requests_app.history import event_story
from requests_app.models import Status
from tests import factories

pytestmark = pytest.mark.django_db


def collected(*, quoted: str | None, amount: str, currency: str = "USD"):
    manager = factories.account_manager()
    r = factories.export_request(
        status=Status.ADDENDUM_SIGNED,
        practice_=factories.practice(manager),
        fee_amount=None if quoted is None else Decimal(quoted),
    )
    services.export_request_record_fee(
        export_request_id=r.pk,
        actor=manager,
        amount=Decimal(amount),
        currency=currency,
        invoice_reference="INV-2026-0412",
    )
    r.refresh_from_db()
    return r, manager


def page_of(client, r, user) -> str:
    factories.sign_in(client, user)
    return client.get(reverse("requests_app:detail", args=[r.pk])).content.decode()


def test_collecting_the_fee_keeps_the_quote():
    r, _ = collected(quoted="1200", amount="1400")

    assert r.fee_amount == Decimal("1200.00") and r.fee_currency == "USD"
    assert r.fee_collected_amount == Decimal("1400.00") and r.fee_collected_currency == "USD"


def test_a_fee_collected_above_the_quote_is_flagged_on_the_page_and_told_in_history(client):
    r, manager = collected(quoted="1200", amount="1400")

    page = page_of(client, r, manager)

    assert "1,200.00 USD quoted · 1,400.00 USD collected" in page
    assert "Differs from the quote: 200.00 USD more than quoted" in page
    assert (
        "<strong>Fee collected</strong>: 1,400.00 USD, invoice INV-2026-0412; "
        "quoted 1,200.00 USD, 200.00 USD more than quoted" in page
    )


def test_a_fee_collected_as_quoted_is_not_flagged(client):
    r, manager = collected(quoted="1400", amount="1400")

    page = page_of(client, r, manager)

    assert "1,400.00 USD quoted · 1,400.00 USD collected" in page
    assert "Differs from the quote" not in page
    assert "quoted 1,400.00 USD, as quoted" in page


def test_less_than_quoted_or_another_currency_reads_as_such():
    less = event_story(
        "request.fee_collected",
        {"amount": "900", "currency": "USD", "quoted_amount": "1000.00", "quoted_currency": "USD"},
    )
    other_currency = event_story(
        "request.fee_collected",
        {"amount": "1000", "currency": "CAD", "quoted_amount": "1000.00", "quoted_currency": "USD"},
    )

    assert less.summary == "900.00 USD; quoted 1,000.00 USD, 100.00 USD less than quoted"
    assert other_currency.summary == (
        "1,000.00 CAD; quoted 1,000.00 USD, collected in another currency than quoted"
    )
    assert less.evidence == [] and other_currency.evidence == []


def test_without_a_quote_the_collected_fee_stands_alone(client):
    r, manager = collected(quoted=None, amount="1400", currency="CAD")

    page = page_of(client, r, manager)

    assert "no quote · 1,400.00 CAD collected" in page
    assert "Differs from the quote" not in page
    assert "<strong>Fee collected</strong>: 1,400.00 CAD, invoice INV-2026-0412 · " in page
