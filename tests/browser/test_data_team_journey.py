"""The data team's whole journey in a real browser, from sign-in (with the second factor) to an
approved delivery, reaching every step only by clicking what the page shows: claim a request,
attach DrChrono, see a failed connection test told as a failure with no Start, fix the
credentials and pass, start, watch the page follow the run live, retry the stage that failed,
review and approve. Full-page screenshots of each step go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from requests_app.models import ExportRequest, Status
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.fakes.drchrono_server import CLIENT_ID, CLIENT_SECRET, FakeDrChrono
from tests.integration.conftest import purge_queues, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]

RUN_TIMEOUT = 180_000  # ms: the worker's whole stage, retries included


def screenshot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"data-team-journey-{step}.png"), full_page=True)


def connect_drchrono(page: Page, *, access_token: str, refresh_token: str) -> None:
    form = page.locator("#action-connect-drchrono")
    form.get_by_label("Client id").fill(CLIENT_ID)
    form.get_by_label("Client secret").fill(CLIENT_SECRET)
    form.get_by_label("Access token", exact=True).fill(access_token)
    form.get_by_label("Refresh token").fill(refresh_token)
    form.get_by_label("Access token expires at").fill("2100-01-01 00:00")
    form.get_by_role("button", name="Connect DrChrono").click()
    expect(page.locator("ul.messages")).to_contain_text("credentials are saved")
    expect(page.locator("ul.messages")).not_to_contain_text("connected")


def test_the_data_team_claims_connects_runs_retries_and_approves_from_the_page(
    page, pipeline_settings, tmp_path, settings
):
    settings.EXPORT_PROGRESS_POLL_SECONDS = 1
    settings.DRCHRONO_MAX_ATTEMPTS, settings.DRCHRONO_BACKOFF_MS = 1, 1
    dana = factories.data_member(first_name="Dana", last_name="Data")
    request = factories.export_request(
        status=Status.READY,
        practice_=factories.practice(name="Harbour Street Clinic"),
    )
    with FakeDrChrono() as fake:
        # The connection test runs in the portal's process, the export in the worker's.
        drchrono = {"DRCHRONO_API_BASE_URL": fake.base_url, "DRCHRONO_TOKEN_URL": fake.token_url}
        settings.DRCHRONO_API_BASE_URL, settings.DRCHRONO_TOKEN_URL = fake.base_url, fake.token_url
        purge_queues()
        worker = start_worker(
            tmp_path,
            extra_env={
                **pipeline_settings,
                **drchrono,
                "DRCHRONO_MAX_ATTEMPTS": "2",
                "DRCHRONO_BACKOFF_MS": "10",
                "EXPORT_TASK_MAX_RETRIES": "1",
                # the failing run stays in extraction for seconds: time to start typing
                "EXPORT_TASK_RETRY_BACKOFF_SECONDS": "4",
            },
        )
        try:
            journey(page, request, dana, fake)
        finally:
            worker.stop()

    request.refresh_from_db()
    assert request.status == Status.DELIVERED


def journey(page: Page, request: ExportRequest, dana, fake: FakeDrChrono) -> None:
    status = page.locator("dl.facts dd").first
    next_steps = page.locator("#live-next-steps")
    card = page.locator("#pipeline-panel")

    # Sign in with the second factor; the ready queue offers the request.
    sign_in(page, dana.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="Ready queue")).to_be_visible()
    page.get_by_role("button", name=f"Claim {request.reference}").click()
    expect(page.get_by_text("You own this request now.")).to_be_visible()
    expect(status).to_have_text("Claimed")
    screenshot(page, "01-claimed")

    # Credentials DrChrono never issued: saved, not "connected"; the test fails, visibly.
    connect_drchrono(page, access_token="revoked-token", refresh_token="revoked-refresh")
    expect(card).to_contain_text("Not tested")
    page.get_by_role("button", name="Test the connection").click()
    expect(page.locator("ul.messages li.error")).to_contain_text("The connection test failed")
    expect(page.locator("ul.messages li.success")).to_have_count(0)
    expect(card).to_contain_text("Connection test failed")
    expect(page.get_by_role("button", name="Start the export")).to_have_count(0)
    screenshot(page, "02-connection-test-failed")

    # The right credentials, and a passing test: now Start is offered, in both places.
    connect_drchrono(page, access_token=fake.access_token, refresh_token=fake.refresh_token)
    expect(page.get_by_role("button", name="Start the export")).to_have_count(0)
    page.get_by_role("button", name="Test the connection").click()
    expect(page.locator("ul.messages li.success")).to_contain_text("The connection test passed")
    expect(card).to_contain_text("Connection test passed")
    expect(next_steps.get_by_role("link", name="Start the export")).to_be_visible()
    screenshot(page, "03-connection-test-passed")

    # DrChrono starts failing once the export is under way (as the source-failure tests do).
    fake.fail("/api/patients", 500, times=10_000)
    next_steps.get_by_role("link", name="Start the export").click()
    page.get_by_role("button", name="Start the export").click()
    expect(page.get_by_text("The export has started.")).to_be_visible()
    expect(page.get_by_text("This page follows the export as it runs.")).to_be_visible()
    # From here the page must move by itself: a reload would lose this mark.
    page.evaluate("window.stillTheSamePage = true")
    # Dana opens a record in History and starts typing a reason to stop, while it runs.
    first_record = page.locator("ol.history details").first
    first_record.locator("summary").click()
    stop_reason = page.locator("#action-stop-pipeline textarea")
    stop_reason.fill("Checking with the practice first")
    assert status.inner_text() == "Extracting", "the run ended before the live swap was tested"

    # The stage fails: every region says so, and Next steps offers the retry.
    expect(status).to_have_text("Failed", timeout=RUN_TIMEOUT)
    expect(card).to_contain_text("Failed in extracting")
    expect(next_steps.get_by_role("link", name="Retry the failed stage")).to_be_visible()
    expect(page.locator("ol.history")).to_contain_text("Export failed")
    assert page.evaluate("window.stillTheSamePage === true")
    # The regions were swapped under Dana: what she typed, her focus and the record stay.
    expect(stop_reason).to_have_value("Checking with the practice first")
    expect(stop_reason).to_be_focused()
    expect(first_record).to_have_attribute("open", "")
    screenshot(page, "04-stage-failed")

    # DrChrono answers again; the retry resumes the stage and the page follows it live.
    fake.faults.clear()
    next_steps.get_by_role("link", name="Retry the failed stage").click()
    page.get_by_role("button", name="Retry the failed stage").click()
    expect(page.get_by_text("Retrying: finished work is kept.")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    expect(card.locator("progress")).to_be_visible()
    screenshot(page, "05-running")
    expect(status).to_have_text("Awaiting review", timeout=RUN_TIMEOUT)
    expect(card).to_contain_text("Reconciliation")
    expect(next_steps.get_by_role("link", name="Approve and deliver")).to_be_visible()
    expect(page.locator("ol.history")).to_contain_text("Archive packaged")
    expect(page.get_by_text("This page follows the export as it runs.")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage === true")
    screenshot(page, "06-awaiting-review")

    # Review and approve; the delivery follows live.
    next_steps.get_by_role("link", name="Approve and deliver").click()
    if card.get_by_text("records could not be exported").count():
        card.get_by_label("I have read the reconciliation", exact=False).check()
    page.get_by_role("button", name="Approve and deliver").click()
    expect(page.get_by_text("Approved: the archive is being uploaded.")).to_be_visible()
    expect(status).to_have_text("Delivered", timeout=RUN_TIMEOUT)
    expect(page.locator("ol.history")).to_contain_text("Delivered")
    screenshot(page, "07-delivered")
