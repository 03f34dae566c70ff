"""Two roles' whole journeys in a real browser, each from sign-in (with its two-factor step)
and reaching every action only by clicking what the page shows: no typed URLs after sign-in.

- The account manager files a request, sends the addendum, records it signed and the fee, and
  once the data team's run has delivered it, reveals the archive password on the request page.
  The data team's part is driven here by the pipeline on a real worker, as the integration
  tests drive it; the revealed passphrase must open the delivered archive.
- The admin reads the audit page, grants an extension, ends a delivered export's access early,
  and reads the proof of deletion on the request page.

Each step saves a full-page screenshot under test-artifacts/ (CI keeps the folder).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyzipper
from playwright.sync_api import Page, expect

from exportportal.celery import app
from exports import connections, lifecycle, pipeline
from exports.models import ExportJob
from requests_app import services
from requests_app.models import ExportRequest, Status
from tests import factories
from tests.browser.conftest import ARTIFACTS, record_addendum_and_fee, sign_in, sign_out
from tests.integration.conftest import purge_queues, start_worker, wait_for
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def screenshot(page: Page, journey: str, step: int, what: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"journey-{journey}-{step:02d}-{what}.png"
    page.screenshot(path=str(path), full_page=True)


def status_of(export_request: ExportRequest) -> str:
    return ExportRequest.objects.values_list("status", flat=True).get(pk=export_request.pk)


def run_the_data_teams_part(export_request: ExportRequest, tmp_path: Path, settings: dict) -> None:
    """Claim, attach a small demo practice, test it, run the pipeline on a real worker and
    approve: what the data team does on its own pages, which another journey covers."""
    member = factories.data_member()
    services.export_request_claim(export_request_id=export_request.pk, actor=member)
    connections.source_connect_demo(
        export_request_id=export_request.pk, actor=member, patients=10, seed=3
    )
    with tempfile.TemporaryDirectory(dir=tmp_path) as spool:
        connections.source_test_connection(
            export_request_id=export_request.pk, actor=member, spool_dir=Path(spool)
        )
    purge_queues()
    worker = start_worker(tmp_path, extra_env=settings)
    try:
        pipeline.pipeline_start(export_request_id=export_request.pk, actor=member)
        wait_for(
            lambda: status_of(export_request) == Status.AWAITING_REVIEW,
            timeout=240,
            message="awaiting review",
        )
        pipeline.pipeline_approve(
            export_request_id=export_request.pk, actor=member, acknowledge_failures=True
        )
        wait_for(
            lambda: status_of(export_request) == Status.DELIVERED, timeout=120, message="delivered"
        )
    finally:
        worker.stop()


@pytest.mark.integration
def test_the_account_manager_files_a_request_and_reveals_the_password_once_delivered(
    page, tmp_path, pipeline_settings
):
    manager = factories.account_manager(first_name="Avery", last_name="Manager")
    factories.practice(manager, name="Maple Grove Family Medicine")
    journey = "account-manager"

    sign_in(page, manager.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    page.get_by_role("link", name="File a request").click()
    page.get_by_label("Point of contact", exact=True).fill("Jordan O'Reilly")
    page.get_by_label("Point of contact's email").fill("jordan@example.org")
    page.get_by_label("Quoted fee").fill("1200")
    page.get_by_role("button", name="File the request").click()
    expect(page.get_by_text(re.compile(r"EXP-\d{6} is filed"))).to_be_visible()
    screenshot(page, journey, 1, "filed")
    export_request = ExportRequest.objects.get()

    record_addendum_and_fee(page, tmp_path, amount="1400", invoice="INV-2026-0412")
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text("1,200.00 USD quoted · 1,400.00 USD collected")
    expect(page.get_by_test_id("fee-difference")).to_have_text(
        "Differs from the quote: 200.00 USD more than quoted"
    )
    expect(page.locator("ol.history")).to_contain_text(
        "Fee collected: 1,400.00 USD, invoice INV-2026-0412; quoted 1,200.00 USD, "
        "200.00 USD more than quoted"
    )
    screenshot(page, journey, 2, "ready-with-the-fee")
    sign_out(page)

    run_the_data_teams_part(export_request, tmp_path, pipeline_settings)

    # The delivery email sends the manager to the request page: from the list, one click.
    sign_in(page, manager.username, factories.PASSWORD)
    page.get_by_role("row").filter(has_text=export_request.reference).get_by_role(
        "link", name=export_request.reference
    ).click()
    handoff = page.locator("#handoff")
    expect(handoff.get_by_test_id("access-window")).to_contain_text("60 days left")
    expect(handoff).not_to_contain_text("End access and delete now")
    screenshot(page, journey, 3, "delivered")

    handoff.get_by_role("button", name="Show the password").click()
    shown = handoff.get_by_test_id("archive-password")
    expect(shown).to_have_text(re.compile(r"^[a-z]+(-[a-z]+){6}$"))
    expect(handoff.locator("ol.passphrase-words li")).to_have_count(7)
    expect(handoff.get_by_role("button", name="Copy")).to_be_visible()
    screenshot(page, journey, 4, "password-revealed")
    password = shown.inner_text()

    revealed = export_request.events.get(action=lifecycle.PASSWORD_REVEALED)
    assert revealed.actor == manager
    job = ExportJob.objects.get(request=export_request)
    delivered_part = (
        Path(pipeline_settings["EXPORT_LOCAL_DELIVERY_DIR"])
        / export_request.reference
        / Path(job.archive_parts[0]["path"]).name
    )
    with pyzipper.AESZipFile(delivered_part) as archive:
        archive.setpassword(password.encode())
        assert archive.testzip() is None, "the revealed password opens the delivered archive"


@pytest.fixture
def deletion_runs_at_once() -> Iterator[None]:
    """The deletion task runs in the page's own request (no worker): the journey sees its end."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def test_the_admin_reads_the_audit_extends_a_timeline_deletes_early_and_sees_the_proof(
    page, pipeline_settings, deletion_runs_at_once, django_capture_on_commit_callbacks
):
    manager = factories.account_manager()
    running = factories.export_request(
        status=Status.CLAIMED,
        practice_=factories.practice(manager, name="Harbor Pediatrics"),
        custom_requirements="Faxes from the old system too",
    )
    handed_over = delivered(uploading_job(manager=manager), django_capture_on_commit_callbacks)
    lifecycle.reveal_passwords(export_request_id=handed_over.pk, actor=manager)
    boss = factories.admin(first_name="Robin", last_name="Admin")
    journey = "admin"

    sign_in(page, boss.username, factories.PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # The audit: who got what, and who saw the password.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Delivery audit")).to_be_visible()
    audit = page.locator("table")
    expect(audit).to_contain_text("Access granted to the point of contact")
    expect(audit).to_contain_text("Passwords revealed: archive password")
    screenshot(page, journey, 1, "audit")

    # An extension for the custom requirement, from the overview.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    page.get_by_role("row").filter(has_text=running.reference).get_by_role(
        "link", name=running.reference
    ).click()
    page.get_by_label("Extra days").fill("14")
    page.get_by_label("Reason (the custom requirement that needs more time)").fill(
        "Faxes from the old system need a second pass"
    )
    page.get_by_role("button", name="Grant a timeline extension").click()
    expect(page.get_by_text("The extension is granted; both timeline marks moved.")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("14 days")
    screenshot(page, journey, 2, "extension")

    # Early deletion of the delivered export, reached from its row in the audit.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.get_by_role("row").filter(has_text="Access granted").get_by_role(
        "link", name=handed_over.reference
    ).click()
    handoff = page.locator("#handoff")
    expect(handoff.get_by_test_id("access-window")).to_contain_text("days left")
    screenshot(page, journey, 3, "delivered")
    handoff.get_by_role("button", name="End access and delete now").click()
    expect(page.get_by_role("heading", name="End access and delete the data now")).to_be_visible()
    page.get_by_label("Why is the data deleted before access ends?").fill(
        "The practice asked for its copy to be removed"
    )
    page.get_by_label(re.compile("I understand that the point of contact loses access")).check()
    screenshot(page, journey, 4, "confirm-early-deletion")
    page.get_by_role("button", name="Delete now").click()

    # Back on the request: the proof of deletion where the reveal was.
    expect(page.locator("dl.facts").first).to_contain_text("Expired")
    handoff = page.locator("#handoff")
    expect(handoff.get_by_test_id("deletion-summary")).to_contain_text(
        "early, at an admin's request: The practice asked for its copy to be removed"
    )
    expect(handoff).not_to_contain_text("Show the password")
    evidence = handoff.get_by_test_id("deletion-evidence")
    expect(evidence).to_contain_text("the local delivery folder")
    handoff.get_by_text(re.compile(r"\d+ steps: what was deleted and each check")).click()
    expect(evidence.locator("ol.deletion-steps")).to_contain_text("Delivered folder deleted")
    expect(evidence.locator("ol.deletion-steps")).to_contain_text("Local copy checked: gone")
    screenshot(page, journey, 5, "deletion-proof")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.locator("table")).to_contain_text("Early deletion requested")
    expect(page.locator("table")).to_contain_text("Deletion completed")
    screenshot(page, journey, 6, "audit-after-deletion")

    handed_over.refresh_from_db()
    assert handed_over.status == Status.EXPIRED
    assert not (
        Path(pipeline_settings["EXPORT_LOCAL_DELIVERY_DIR"]) / handed_over.reference
    ).exists()
