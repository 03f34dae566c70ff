"""The data team attaches an EHR's FHIR Bulk Data server by clicking, tests the connection
against the loopback Bulk Data server, and sees it pass; an admin creates the portal's
signing key the same way."""

import pytest
from playwright.sync_api import expect

from exports import smart_keys
from exports.models import SourceConnection, SourceKind
from requests_app.models import Status
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import PASSWORD, admin, data_member, export_request
from tests.fakes.fhir_bulk_practice import FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, GROUP_ID, FakeBulkServer

pytestmark = pytest.mark.browser


def practice_of(patients: int) -> FhirPractice:
    practice = FhirPractice()
    for number in range(1, patients + 1):
        practice.add({"resourceType": "Patient", "id": f"p{number}", "birthDate": "1990-05-17"})
    return practice


def test_the_data_team_attaches_a_fhir_server_tests_it_and_sees_the_pass(page, settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    smart_keys.signing_keys_create(actor=admin())
    member = data_member()
    request = export_request(status=Status.CLAIMED, claimed_by=member)
    with FakeBulkServer(practice_of(4), smart_keys.published_jwks()) as server:
        sign_in(page, member.username, PASSWORD)
        page.goto(f"/requests/{request.pk}/")
        form = page.locator("#action-connect-fhir-bulk")
        form.get_by_label("FHIR base URL").fill(server.base_url)
        form.get_by_label("Client id").fill(CLIENT_ID)
        form.get_by_label("Group id").fill(GROUP_ID)
        form.get_by_role("button", name="Connect FHIR Bulk Data").click()

        panel = page.locator("#pipeline-panel")
        expect(panel).to_contain_text(f"group {GROUP_ID}")
        page.get_by_role("button", name="Test the connection").click()

        result = page.get_by_test_id("connection-test")
        expect(result).to_contain_text("Connection test passed")
        expect(result).to_contain_text(f"group {GROUP_ID} holds 4 patients")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fhir-bulk-source-connected.png"), full_page=True)

    source = SourceConnection.objects.get(request=request)
    assert source.kind == SourceKind.FHIR_BULK and source.last_test_ok is True


def test_an_admin_creates_the_signing_key_and_finds_the_jwks_url(page, live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url
    boss = admin()
    sign_in(page, boss.username, PASSWORD)
    page.goto("/")
    page.get_by_role("link", name="FHIR keys").click()
    page.get_by_role("button", name="Create the signing key").click()

    expect(page.get_by_text("signs now")).to_be_visible()
    jwks_url = page.get_by_test_id("jwks-url").inner_text()
    page.goto(jwks_url)
    assert smart_keys.portal_key_ring().current.kid in page.content()
