"""Bad input gets a clear message and changes nothing."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from requests_app import services
from requests_app.models import ExportRequest, Status
from requests_app.uploads import MAX_ADDENDUM_BYTES
from tests import factories
from tests.page_errors import errors_at, errors_shown

pytestmark = pytest.mark.django_db


def messages_on(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def post_action(client, r, action, data):
    factories.sign_in(client, r.practice.account_manager)
    return client.post(reverse("requests_app:action", args=[r.pk, action]), data, follow=True)


def filing_data(practice, **overrides):
    data = {
        "practice": practice.pk,
        "poc_name": "Jordan Reyes",
        "poc_email": "jordan@example.org",
        "categories": ["demographics"],
        "fee_currency": "USD",
    }
    return {**data, **overrides}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("poc_email", "jordan-at-example", "Enter a valid email address."),
        ("fee_amount", "-5", "Ensure this value is greater than or equal to 0."),
        ("fee_amount", "250000", "Ensure this value is less than or equal to 100000."),
        ("categories", [], "Choose one or more of the exportable categories."),
        ("categories", ["billing"], "Select a valid choice."),
    ],
)
def test_filing_with_bad_input_says_why_and_files_nothing(client, field, value, message):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    factories.sign_in(client, manager)
    response = client.post(reverse("requests_app:file"), filing_data(practice, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ExportRequest.objects.exists()


def test_an_inactive_practice_cannot_get_a_request(client):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    practice.active = False
    practice.save()
    factories.sign_in(client, manager)
    response = client.post(reverse("requests_app:file"), filing_data(practice))
    assert "Select a valid choice" in response.content.decode()
    assert not ExportRequest.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-1", "Ensure this value is greater than or equal to 0."),
        ("100000.01", "Ensure this value is less than or equal to 100000."),
        ("12.345", "Ensure that there are no more than 2 decimal places."),
        ("lots", "Enter a number."),
    ],
)
def test_a_negative_or_absurd_fee_is_refused_at_its_field(client, amount, message):
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    response = post_action(
        client,
        r,
        "fee",
        {"fee-amount": amount, "fee-currency": "USD", "fee-invoice_reference": "I"},
    )
    assert errors_shown(response) == errors_at(response, "id_fee-amount") == [message]
    r.refresh_from_db()
    assert r.status == Status.ADDENDUM_SENT and r.fee_collected_at is None


def test_the_model_refuses_an_absurd_fee_even_past_the_form():
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    with pytest.raises(ValidationError):
        services.export_request_record_fee(
            export_request_id=r.pk,
            actor=r.practice.account_manager,
            amount=Decimal("1000000"),
            invoice_reference="INV",
        )
    r.refresh_from_db()
    assert r.status == Status.ADDENDUM_SENT and r.events.count() == 2


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("addendum.pdf", b"PK\x03\x04 a zip named .pdf", "application/pdf"),
            "The signed addendum must be a PDF document.",
        ),
        (
            SimpleUploadedFile("addendum.pdf", b"%PDF-1.7\nnot really", "application/pdf"),
            "The PDF could not be read; it may be damaged.",
        ),
        (
            SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * MAX_ADDENDUM_BYTES, "application/pdf"),
            "The signed addendum must be at most 10 MB.",
        ),
        (SimpleUploadedFile("empty.pdf", b"", "application/pdf"), "The submitted file is empty."),
    ],
    ids=["not-a-pdf", "damaged-pdf", "oversized", "empty"],
)
def test_a_bad_addendum_is_refused_by_its_content(client, upload, message):
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    response = post_action(
        client, r, "signed-addendum", {"signed-addendum-signed_addendum": upload}
    )
    [shown] = errors_shown(response)
    assert message in shown
    r.refresh_from_db()
    assert r.status == Status.ADDENDUM_SENT and not r.signed_addendum


@pytest.mark.parametrize(
    ("state", "action", "data"),
    [
        (
            Status.DRAFT,
            "fee",
            {"fee-amount": "10", "fee-currency": "USD", "fee-invoice_reference": "I"},
        ),
        (Status.ADDENDUM_SENT, "send-addendum", {}),
        (
            Status.READY,
            "fee",
            {"fee-amount": "10", "fee-currency": "USD", "fee-invoice_reference": "I"},
        ),
    ],
    ids=["out-of-order", "repeated", "repeated-after-ready"],
)
def test_an_out_of_order_or_repeated_step_is_a_message_and_changes_nothing(
    client, state, action, data
):
    r = factories.export_request(status=state)
    events = r.events.count()
    response = post_action(client, r, action, data)
    assert response.status_code == 200
    assert any("that step is not possible now" in m for m in messages_on(response))
    after = ExportRequest.objects.get(pk=r.pk)
    assert after.status == state and after.events.count() == events


def test_cancel_and_hold_need_a_reason(client):
    r = factories.export_request()
    for action in ("cancel", "hold"):
        response = post_action(client, r, action, {f"{action}-reason": "   "})
        assert errors_shown(response) == errors_at(response, f"id_{action}-reason")
        assert errors_at(response, f"id_{action}-reason") == ["Give a reason."]
    r.refresh_from_db()
    assert r.status == Status.DRAFT


def test_an_extension_needs_sane_days():
    r = factories.export_request(status=Status.READY)
    admin = factories.admin()
    services.export_request_grant_extension(
        export_request_id=r.pk, actor=admin, days=300, reason="x"
    )
    with pytest.raises(services.RequestActionError, match="at most 365 days"):
        services.export_request_grant_extension(
            export_request_id=r.pk, actor=admin, days=100, reason="more"
        )
    r.refresh_from_db()
    assert r.extension_days == 300


def test_a_forged_post_without_the_csrf_token_is_refused_and_changes_nothing():
    r = factories.export_request()
    browser = Client(enforce_csrf_checks=True)
    factories.sign_in(browser, r.practice.account_manager)
    response = browser.post(reverse("requests_app:action", args=[r.pk, "send-addendum"]), {})
    assert response.status_code == 403
    r.refresh_from_db()
    assert r.status == Status.DRAFT


def test_another_managers_request_is_not_found_and_the_attempt_is_logged_without_phi(
    client, caplog
):
    r = factories.export_request(
        practice_=factories.practice(name="Quillfeather Dermatology"), poc_name="Jordan Reyes"
    )
    intruder = factories.account_manager()
    factories.sign_in(client, intruder)
    with caplog.at_level(logging.WARNING):
        response = client.get(reverse("requests_app:detail", args=[r.pk]))
    assert response.status_code == 404
    [line] = [m for m in caplog.messages if m.startswith("permission denied")]
    assert line == (
        f"permission denied: user={intruder.pk} path_name=requests_app:detail hidden=request"
    )


def test_a_request_that_does_not_exist_is_not_logged_as_a_permission_failure(client, caplog):
    factories.sign_in(client, factories.account_manager())
    with caplog.at_level(logging.WARNING):
        response = client.get(reverse("requests_app:detail", args=[999_999]))
    assert response.status_code == 404
    assert "permission denied" not in caplog.text


def test_a_step_on_a_request_one_may_only_read_is_refused_and_logged_without_phi(client, caplog):
    data_member = factories.data_member()
    ready = factories.export_request(status=Status.READY, poc_name="Jordan Reyes")
    factories.sign_in(client, data_member)
    with caplog.at_level(logging.WARNING):
        response = client.post(
            reverse("requests_app:action", args=[ready.pk, "cancel"]), {"cancel-reason": "x"}
        )
    assert response.status_code == 403
    assert f"user={data_member.pk} action=cancel request={ready.pk}" in caplog.text
    assert "Jordan" not in caplog.text and ready.practice.name not in caplog.text
