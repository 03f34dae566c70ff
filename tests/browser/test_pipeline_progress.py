"""The data team watches a real export run: the progress bar moves, live, to 100%."""

import re

import pytest
from playwright.sync_api import expect

from exports import connections
from requests_app.models import Status
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, data_member, export_request
from tests.integration.conftest import purge_queues, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_progress_bar_moves_to_100_percent_as_the_export_runs(
    page, pipeline_settings, tmp_path, settings
):
    settings.EXPORT_PROGRESS_POLL_SECONDS = 1
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    # Enough patients that the run outlasts several polls even on a fast broker.
    connections.source_connect_demo(
        export_request_id=request.pk, actor=member, patients=240, seed=5
    )
    purge_queues()
    worker = start_worker(tmp_path, extra_env=pipeline_settings)
    try:
        sign_in(page, member.username, PASSWORD)
        page.goto(f"/requests/{request.pk}/")
        page.get_by_role("button", name="Test the connection").click()
        page.get_by_role("button", name="Start the export").click()

        percent = page.get_by_test_id("progress-percent")
        seen: list[int] = []
        page.wait_for_function("() => document.querySelector('[data-testid=progress-percent]')")
        for _ in range(240):
            text = percent.inner_text(timeout=30_000)
            seen.append(int(re.match(r"(\d+)%", text).group(1)))
            if page.get_by_text("Awaiting review").count():
                break
            page.wait_for_timeout(500)
        expect(page.locator("#pipeline-panel")).to_contain_text("Reconciliation")
    finally:
        worker.stop()

    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen), f"no progress seen between 0 and 100: {seen}"
