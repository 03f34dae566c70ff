"""On a phone-width screen (390 px) every page fits: nothing scrolls sideways. An admin, who
reaches every page the other roles do and more, walks them by clicking what the page shows,
with the demo data's requests in many states."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from requests_app.demo import seed_demo
from tests.browser.conftest import ARTIFACTS, sign_in, sign_out

#: links to a request's page (not the practices' "File a request" links)
REQUEST_LINKS = "main table a[href*='/requests/']:not([href*='/requests/new/'])"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def sideways_overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


def visit_every_request_link(page: Page, overflowing: dict[str, int]) -> None:
    listing = page.url
    references = page.locator(
        "main table a[href*='/requests/']:not([href*='/requests/new/'])"
    ).all_inner_texts()
    for reference in dict.fromkeys(references):
        page.get_by_role("link", name=reference, exact=True).first.click()
        page.wait_for_load_state()
        if (extra := sideways_overflow(page)) > 0:
            overflowing[page.url] = extra
            page.screenshot(path=str(ARTIFACTS / f"narrow-{reference}.png"), full_page=True)
        page.goto(listing)


@pytest.mark.usefixtures("export_dirs")
def test_no_page_scrolls_sideways_at_390_px(page):
    role = "admin"
    ARTIFACTS.mkdir(exist_ok=True)
    logins = {login.role.slug: login for login in seed_demo()}
    page.set_viewport_size(PHONE)
    overflowing: dict[str, int] = {}

    page.goto("/login/")
    assert sideways_overflow(page) <= 0, "the sign-in page"
    sign_in(page, logins[role].username, logins[role].password)
    # The Django admin ("Administration") is Django's own responsive page, not the portal's.
    links = page.locator("nav[aria-label=Main] a").all_inner_texts()
    for link in [link for link in links if link != "Administration"]:
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
        page.wait_for_load_state()
        if (extra := sideways_overflow(page)) > 0:
            overflowing[page.url] = extra
            page.screenshot(path=str(ARTIFACTS / f"narrow-{role}-{link}.png"), full_page=True)
        if page.locator(REQUEST_LINKS).count():
            visit_every_request_link(page, overflowing)
    sign_out(page)

    assert overflowing == {}, "pages wider than 390 px (screenshots in test-artifacts/)"
