"""The handoff card on a delivered request's page, read through the page itself: when access
ends, who may reveal the passwords or end access early, and once it has ended, the proof of
deletion instead of the reveal."""

from datetime import timedelta

import pytest
from django.urls import reverse

from exports.lifecycle import days_left, request_early_deletion
from exports.models import ExportJob
from requests_app.models import Status
from tests.factories import account_manager, admin, data_member, sign_in
from tests.lifecycle.conftest import DELIVERY_TIME
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db

REVEAL = "Show the password"
DELETE_EARLY = "End access and delete now"


@pytest.fixture
def delivered_request(clock, django_capture_on_commit_callbacks):
    return delivered(uploading_job(), django_capture_on_commit_callbacks)


def page_of(client, export_request, user, *, tz: str | None = None) -> str:
    client.logout()
    sign_in(client, user)
    if tz:
        client.cookies["tz"] = tz
    response = client.get(reverse("requests_app:detail", args=[export_request.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_delivered_page_shows_when_access_ends_in_the_viewers_time_zone(
    client, delivered_request, clock
):
    clock.move_to(DELIVERY_TIME + timedelta(days=10, hours=1))
    manager = delivered_request.practice.account_manager

    page = page_of(client, delivered_request, manager, tz="America/Chicago")

    # Delivered 2026-03-02 14:30 UTC, 60 days of access; Chicago is UTC-6, then UTC-5 (DST).
    assert "<dt>Delivered</dt>" in page and "2026-03-02 08:30 CST" in page
    assert "2026-05-01 09:30 CDT" in page
    assert "50 days left" in page


def test_days_left_count_a_part_day_and_stop_at_zero():
    assert days_left(DELIVERY_TIME + timedelta(hours=1), DELIVERY_TIME) == 1
    assert days_left(DELIVERY_TIME + timedelta(days=2), DELIVERY_TIME) == 2
    assert days_left(DELIVERY_TIME - timedelta(hours=1), DELIVERY_TIME) == 0


def test_the_manager_may_reveal_an_admin_may_also_delete_early_the_data_team_neither(
    client, delivered_request
):
    manager_page = page_of(client, delivered_request, delivered_request.practice.account_manager)
    admin_page = page_of(client, delivered_request, admin())
    data_page = page_of(client, delivered_request, data_member())

    assert REVEAL in manager_page and DELETE_EARLY not in manager_page
    assert REVEAL in admin_page and DELETE_EARLY in admin_page
    assert "Handoff" in data_page and "days left" in data_page
    assert REVEAL not in data_page and DELETE_EARLY not in data_page


def test_next_steps_names_the_handoff_steps_the_card_offers(client, delivered_request):
    manager_steps = next_steps(
        page_of(client, delivered_request, delivered_request.practice.account_manager)
    )
    admin_steps = next_steps(page_of(client, delivered_request, admin()))
    data_steps = next_steps(page_of(client, delivered_request, data_member()))

    assert "Show the archive password" in manager_steps and DELETE_EARLY not in manager_steps
    assert "Show the archive password" in admin_steps and DELETE_EARLY in admin_steps
    assert "Nothing for you to do" in data_steps


def next_steps(page: str) -> str:
    """The "Next steps" card's text."""
    start = page.index('id="actions-heading"')
    return page[start : page.index("</section>", start)]


def test_the_reveal_from_the_page_shows_seven_words_grouped_with_a_copy_button(
    client, delivered_request
):
    manager = delivered_request.practice.account_manager
    page_of(client, delivered_request, manager)
    job = ExportJob.objects.get(request=delivered_request)

    shown = client.post(
        reverse("exports:reveal-passwords", args=[delivered_request.pk]),
        headers={"HX-Request": "true"},
    ).content.decode()

    words = job.archive_password.split("-")
    assert len(words) == 7
    assert "".join(f"<li>{word}</li>" for word in words) in shown
    assert 'data-copy-from="archive-password"' in shown
    assert delivered_request.events.get(action="password.revealed").actor == manager


def test_after_the_end_the_page_shows_the_proof_of_deletion_instead_of_the_reveal(
    client, delivered_request, django_capture_on_commit_callbacks
):
    boss = admin()
    with django_capture_on_commit_callbacks(execute=True):
        request_early_deletion(
            export_request_id=delivered_request.pk, actor=boss, reason="The practice asked"
        )
    delivered_request.refresh_from_db()
    assert delivered_request.status == Status.EXPIRED

    for person in (delivered_request.practice.account_manager, boss):
        page = page_of(client, delivered_request, person)
        assert REVEAL not in page and DELETE_EARLY not in page
        assert "early, at an admin's request: The practice asked" in page
        assert "<dt>Where</dt><dd>the local delivery folder" in page
        assert delivered_request.reference in page
        assert "Delivered folder deleted" in page and "Delivered folder checked: gone" in page
        assert "Local copy checked: gone" in page and "confirmed absent" in page


def test_there_is_no_card_before_delivery(client):
    manager = account_manager()
    job = uploading_job(manager=manager)
    assert 'id="handoff"' not in page_of(client, job.request, manager)
    assert 'id="handoff"' not in page_of(client, job.request, admin())


def test_a_box_delivery_offers_both_passwords_and_names_the_protected_link(
    client, fake_box, django_capture_on_commit_callbacks
):
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)

    page = page_of(client, export_request, export_request.practice.account_manager)

    assert "Show the passwords" in page
    assert "shared link protected by its own password" in page
