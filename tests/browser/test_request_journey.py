"""The main journey in a real browser: a manager files a request and records addendum and fee,
the data team claims it, an admin sees it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from requests_app.demo import seed_demo
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.browser.conftest import ARTIFACTS, record_addendum_and_fee, sign_in, sign_out

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_a_request_goes_from_filing_to_claimed_and_the_admin_sees_it(page, tmp_path):
    manager = factories.account_manager(first_name="Avery", last_name="Manager")
    factories.practice(manager, name="Maple Grove Family Medicine")
    dana = factories.data_member(first_name="Dana", last_name="Data")
    admin = factories.admin()

    # The account manager files the request: every exportable category is checked already.
    sign_in(page, manager.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    page.get_by_role("link", name="File a request").click()
    expect(page.get_by_label("Medications")).to_be_checked()
    expect(page.get_by_text("Billing and balance data")).to_be_visible()
    page.get_by_label("Point of contact", exact=True).fill("Jordan Reyes")
    page.get_by_label("Point of contact's email").fill("jordan@example.org")
    page.get_by_role("button", name="File the request").click()
    expect(page.get_by_text(re.compile(r"EXP-\d{6} is filed"))).to_be_visible()
    r = ExportRequest.objects.get()

    # ... sends the addendum, uploads the signed copy and records the fee.
    record_addendum_and_fee(page, tmp_path, amount="1500", invoice="INV-10041")
    expect(page.locator("dl.facts")).to_contain_text("Ready")
    expect(page.locator("dl.facts")).to_contain_text("On track")
    sign_out(page)

    # The data team finds it in the ready queue and claims it.
    sign_in(page, dana.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="Ready queue")).to_be_visible()
    page.get_by_role("button", name=f"Claim {r.reference}").click()
    expect(page.get_by_text("You own this request now.")).to_be_visible()
    expect(page.get_by_role("heading", name="Export pipeline")).to_be_visible()
    sign_out(page)

    # The admin sees it on the overview, claimed by Dana, and its full history.
    sign_in(page, admin.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=r.reference)
    expect(row).to_contain_text("Claimed")
    expect(row).to_contain_text("Dana Data")
    row.get_by_role("link", name=r.reference).click()
    history = page.locator("ol.history")
    for told in (
        "Request filed",
        "Addendum sent",
        "Signed addendum received",
        "Fee collected: 1,500.00 USD, invoice INV-10041",
        "Claimed by the data team",
    ):
        expect(history).to_contain_text(told)
    r.refresh_from_db()
    assert r.status == Status.CLAIMED and r.claimed_by == dana


def test_the_admin_overview_with_demo_data_for_the_readme(page):
    """Run with UPDATE_README_SCREENSHOT=1 to refresh docs/screenshots/dashboard.png."""
    logins = {login.role.slug: login for login in seed_demo()}
    sign_in(page, logins["admin"].username, logins["admin"].password)
    expect(page.get_by_role("img", name="Requests by status")).to_be_visible()
    expect(page.get_by_role("img", name="Open requests by timeline state")).to_be_visible()
    # The README's picture is refreshed on request only, so a test run leaves the tree clean.
    folder = README_SCREENSHOTS if os.environ.get("UPDATE_README_SCREENSHOT") else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "dashboard.png"), full_page=True)


def test_my_requests_filter_live_as_the_manager_types(page):
    manager = factories.account_manager()
    maple = factories.export_request(
        practice_=factories.practice(manager, name="Maple Grove Family Medicine")
    )
    harbor = factories.export_request(
        practice_=factories.practice(manager, name="Harbor Pediatrics")
    )
    sign_in(page, manager.username, factories.PASSWORD)
    results = page.locator("#request-results")
    expect(results).to_contain_text(maple.reference)
    expect(results).to_contain_text(harbor.reference)

    page.get_by_role("searchbox", name="Search").press_sequentially("harbor")

    expect(results).not_to_contain_text(maple.reference)
    expect(results).to_contain_text(harbor.reference)
    expect(page).to_have_url(re.compile(r"q=harbor"))
    page.get_by_label("Status").select_option("cancelled")
    expect(results).to_contain_text("No requests match these filters.")
