"""Headless Chromium through Playwright against pytest-django's live server.

Each test gets a fresh browser profile; a failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.tools import CHROMIUM, tool_missing

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def page(request, live_server, tmp_path, monkeypatch) -> Iterator[Page]:
    """A page in a fresh Chromium profile, its base URL the live server."""
    # Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable
    # from the test body (factories) while it does. Only for this test: `check --deploy`
    # rightly refuses the variable, and other tests start processes that would inherit it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if tool_missing(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            base_url=live_server.url,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            call = getattr(request.node, "report_call", None)
            if call is not None and call.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the pages: the password, then, for someone with an authenticator, the
    code it shows now (computed from the device's key, as the phone app would)."""
    from django.contrib.auth import get_user_model

    from accounts.two_factor import confirmed_device, current_code

    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    device = confirmed_device(get_user_model().objects.get(username=username))
    if device is not None:
        _wait_for_an_unused_code(device)
        page.wait_for_url("**/login/verify/**")
        page.get_by_label("Code from your authenticator app").fill(current_code(device))
        page.get_by_role("button", name="Verify").click()


def _wait_for_an_unused_code(device) -> None:
    """A code is accepted once: signing in again within the same 30 seconds waits for the
    app's next code, as a person would."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    while device.last_t is not None and totp.t() <= device.last_t:
        time.sleep(0.5)


def record_addendum_and_fee(page: Page, folder: Path, *, amount: str, invoice: str) -> None:
    """The account manager's steps on a filed request's page, clicked as shown: the addendum
    marked sent, the signed copy uploaded, the fee collected."""
    from playwright.sync_api import expect

    from requests_app.demo import signed_addendum_pdf

    page.get_by_role("button", name="Mark the addendum sent").click()
    expect(page.get_by_text("The addendum is marked sent.")).to_be_visible()
    pdf = folder / "signed.pdf"
    pdf.write_bytes(signed_addendum_pdf("Maple Grove").read())
    page.get_by_label("Signed addendum (PDF, at most 10 MB)").set_input_files(pdf)
    page.get_by_role("button", name="Upload the signed addendum").click()
    expect(page.get_by_text("The signed addendum is recorded.")).to_be_visible()
    page.get_by_label("Amount collected").fill(amount)
    page.get_by_label("Invoice reference").fill(invoice)
    page.get_by_role("button", name="Record the fee").click()
    expect(page.get_by_text("The fee is recorded.")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
