"""In Chromium, the portal's pages work under their Content Security Policy: the browser
reports no violation while a person enrols an authenticator and uses the pages, htmx included."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.two_factor import current_code
from exports import connections
from requests_app.models import Status
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def record_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective))"
    )
    return violations


def test_enrolment_and_the_pages_run_without_a_policy_violation(page):
    member = factories.data_member()
    TOTPDevice.objects.filter(user=member).delete()
    request = factories.export_request(status=Status.CLAIMED, claimed_by=member)
    connections.source_connect_demo(export_request_id=request.pk, actor=member, patients=20, seed=3)
    violations = record_violations(page)

    sign_in(page, member.username, factories.PASSWORD)  # no device yet: lands on enrolment
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for Export Portal")).to_be_visible()
    pending = TOTPDevice.objects.get(user=member, confirmed=False)
    page.get_by_label("Code from your authenticator app").fill(current_code(pending))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Ready queue")).to_be_visible()

    page.goto(f"/requests/{request.pk}/")
    expect(page.get_by_role("heading", name="Export pipeline")).to_be_visible()
    page.goto("/dashboard/data-team/")
    expect(page.get_by_role("heading", name="Ready queue")).to_be_visible()

    assert violations == []
