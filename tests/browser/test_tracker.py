"""The account manager works their requests as in a tracker, only by clicking what the pages
show: filter, sort by a column, search by the point of contact's email, page through, reload a
bookmarked view, edit an unclaimed request, add a practice, and file a second open request for
a practice only after the warning."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from requests_app import views
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shown(page: Page) -> list[str]:
    return page.locator("#request-results td[data-label=Request] a").all_inner_texts()


def test_an_account_manager_works_the_list_as_a_tracker(page, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    manager = factories.account_manager(first_name="Avery", last_name="Manager")
    alder = factories.practice(manager, name="Alder Clinic")
    birch = factories.practice(manager, name="Birch Clinic")
    in_birch = [factories.export_request(practice_=birch) for _ in range(4)]
    wanted = factories.export_request(
        practice_=alder, poc_email="pat.lowe@alder.example", status=Status.ADDENDUM_SENT
    )
    sign_in(page, manager.username, factories.PASSWORD)
    results = page.locator("#request-results")

    # Filter by practice, then sort by practice name by clicking the heading (twice: reversed).
    page.get_by_label("Practice", exact=True).select_option(label="Birch Clinic")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"practice={birch.pk}"))
    expect(results).to_contain_text("4 requests")
    page.get_by_role("link", name="Request", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=reference"))
    assert shown(page) == [r.reference for r in in_birch[:3]]
    page.get_by_role("link", name=re.compile(r"^Request")).click()
    expect(page).to_have_url(re.compile(r"sort=-reference"))
    assert shown(page) == [r.reference for r in reversed(in_birch)][:3]

    # Page two, then the bookmark: reloading the URL shows the same view.
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    assert shown(page) == [in_birch[0].reference]
    bookmark = page.url
    page.goto(bookmark)
    assert shown(page) == [in_birch[0].reference]
    expect(page.get_by_label("Practice", exact=True)).to_have_value(str(birch.pk))

    # Search by the point of contact's email, across practices.
    page.get_by_label("Practice", exact=True).select_option(label="Any practice")
    page.get_by_role("searchbox", name="Search").fill("pat.lowe@alder")
    page.get_by_role("button", name="Filter").click()
    expect(results).to_contain_text("1 request")
    assert shown(page) == [wanted.reference]

    # Edit the unclaimed request from its page.
    page.get_by_role("link", name=wanted.reference, exact=True).click()
    page.get_by_role("link", name="Edit the request").click()
    page.get_by_label("Point of contact's phone").fill("+1 555 0199")
    page.get_by_role("button", name="Save the changes").click()
    expect(page.locator(".messages")).to_contain_text(f"{wanted.reference} is updated.")
    expect(page.locator("ol.history")).to_contain_text("Request edited")
    expect(page.locator("dl.facts")).to_contain_text("+1 555 0199")

    # Add a practice without the Django admin.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My practices").click()
    page.get_by_role("link", name="Add a practice").click()
    page.get_by_label("Name").fill("Willow Family Care")
    page.get_by_label("Practice id in the EHR").fill("DRC-31337")
    page.get_by_role("button", name="Add the practice").click()
    expect(page.locator("main table")).to_contain_text("Willow Family Care")

    # A second open request for Alder warns, names the open one, and files only when asked.
    page.get_by_role("link", name="File a request for Alder Clinic").click()
    page.get_by_label("Point of contact", exact=True).fill("Robin Vale")
    page.get_by_label("Point of contact's email").fill("robin@alder.example")
    page.get_by_role("button", name="File the request").click()
    warning = page.locator("#open-requests")
    expect(warning).to_contain_text(wanted.reference)
    expect(page.locator("#id_file_anyway_error")).to_contain_text("already has an open request")
    assert ExportRequest.objects.filter(practice=alder).count() == 1
    page.get_by_label("File another request for this practice anyway").check()
    page.get_by_role("button", name="File the request").click()
    expect(page.locator(".messages")).to_contain_text("is filed")
    assert ExportRequest.objects.filter(practice=alder).count() == 2

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My requests").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tracker-account-manager.png"), full_page=True)
