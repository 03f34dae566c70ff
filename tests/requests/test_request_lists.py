"""The lists people work from: an account manager's requests filtered by practice and by
timeline, and the data team's jobs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import ExportRequest, Status
from tests import factories

pytestmark = pytest.mark.django_db

MY_REQUESTS = reverse("requests_app:dashboard-account-manager")
READY_QUEUE = reverse("requests_app:dashboard-data-team")


def ready_weeks_ago(weeks: float, **fields) -> ExportRequest:
    """A request whose 4-8 week clock started ``weeks`` ago."""
    with time_machine.travel(timezone.now() - timedelta(weeks=weeks), tick=False):
        return factories.export_request(status=Status.READY, **fields)


def references(page: str) -> set[str]:
    """The requests a list shows: each row links to its request by reference."""
    return set(re.findall(r">(EXP-\d{6})</a>", page))


def page_of(client, user, url: str, query: dict | None = None) -> str:
    factories.sign_in(client, user)
    return client.get(url, query or {}).content.decode()


def my_jobs(page: str) -> str:
    return page.split("<h2>My jobs</h2>", 1)[1]


def test_a_manager_narrows_their_requests_to_one_practice(client):
    manager = factories.account_manager()
    maple, birch = factories.practice(manager, name="Maple"), factories.practice(manager)
    in_maple = [factories.export_request(practice_=maple) for _ in range(2)]
    in_birch = factories.export_request(practice_=birch)

    page = page_of(client, manager, MY_REQUESTS, {"practice": maple.pk})

    assert references(page) == {r.reference for r in in_maple}
    assert in_birch.reference not in page


@pytest.mark.parametrize(
    ("timeline", "shown"),
    [("on_track", "fresh"), ("at_risk", "late"), ("overdue", "past_due")],
)
def test_a_manager_sees_which_requests_are_on_track_at_risk_or_overdue(client, timeline, shown):
    manager = factories.account_manager()
    practice = factories.practice(manager)
    requests = {
        "fresh": ready_weeks_ago(1, practice_=practice),
        "late": ready_weeks_ago(5, practice_=practice),
        "past_due": ready_weeks_ago(9, practice_=practice),
        "not_started": factories.export_request(practice_=practice),
    }

    page = page_of(client, manager, MY_REQUESTS, {"timeline": timeline})

    assert references(page) == {requests[shown].reference}


def test_the_timeline_filter_and_the_practice_filter_combine(client):
    manager = factories.account_manager()
    maple, birch = factories.practice(manager), factories.practice(manager)
    late_in_maple = ready_weeks_ago(5, practice_=maple)
    ready_weeks_ago(1, practice_=maple)
    ready_weeks_ago(5, practice_=birch)

    page = page_of(client, manager, MY_REQUESTS, {"timeline": "at_risk", "practice": maple.pk})

    assert references(page) == {late_in_maple.reference}


def test_my_jobs_lists_what_i_claimed_and_nothing_i_released_or_others_claimed(client):
    me, colleague = factories.data_member(), factories.data_member()
    mine = factories.export_request(status=Status.CLAIMED, claimed_by=me)
    released = factories.export_request(status=Status.CLAIMED, claimed_by=me)
    services.export_request_release(export_request_id=released.pk, actor=me)
    theirs = factories.export_request(status=Status.CLAIMED, claimed_by=colleague)

    page = page_of(client, me, READY_QUEUE)

    assert references(my_jobs(page)) == {mine.reference}
    assert released.reference in page, "back in the ready queue, for anyone to claim"
    assert theirs.reference not in page


# -- nothing of anyone else's: lists, search, counts -----------------------------------------

DISTINCTIVE = "Zephyrine Orthopaedics"


@pytest.fixture
def theirs() -> ExportRequest:
    """Another manager's request, overdue, claimed by another data-team member, at a practice
    whose name appears nowhere else."""
    with time_machine.travel(timezone.now() - timedelta(weeks=9), tick=False):
        return factories.export_request(
            status=Status.CLAIMED,
            practice_=factories.practice(name=DISTINCTIVE, ehr_practice_id="DRC-ZEPHYR"),
        )


def stat(page: str, label: str) -> int:
    """A dashboard's count card: "<n> on track" and the like."""
    return int(re.search(rf'class="stat">(\d+)</div><div class="muted">{label}', page).group(1))


def results_counted(page: str) -> int:
    """The "<n> requests" line above a list of results."""
    return int(re.search(r'<p class="muted">(\d+) requests?</p>', page).group(1))


def test_a_manager_sees_nothing_of_another_managers_request(client, theirs):
    manager = factories.account_manager()
    mine = ready_weeks_ago(1, practice_=factories.practice(manager))
    searches = [
        {},
        {"q": "Zephyrine"},
        {"q": theirs.reference},
        {"q": "DRC-ZEPHYR"},
        {"practice": theirs.practice.pk},
        {"timeline": "overdue"},
        {"status": Status.CLAIMED},
    ]

    factories.sign_in(client, manager)
    for query in searches:
        for htmx in ({}, {"HX-Request": "true"}):
            page = client.get(MY_REQUESTS, query, headers=htmx).content.decode()
            assert DISTINCTIVE not in page, query
            assert references(page) <= {mine.reference}, query
            assert results_counted(page) == len(references(page)), query

    page = client.get(MY_REQUESTS).content.decode()
    assert (stat(page, "on track"), stat(page, "at risk"), stat(page, "overdue")) == (1, 0, 0)


def test_a_data_team_member_sees_nothing_of_a_colleagues_job(client, theirs):
    me = factories.data_member()
    mine = factories.export_request(status=Status.CLAIMED, claimed_by=me)

    page = page_of(client, me, READY_QUEUE)

    assert references(my_jobs(page)) == {mine.reference}
    assert DISTINCTIVE not in page and theirs.reference not in page


def test_the_admin_overview_counts_every_request_and_only_admins_see_it(client, theirs):
    ready_weeks_ago(1, practice_=factories.practice(factories.account_manager()))

    page = page_of(client, factories.admin(), reverse("requests_app:dashboard-admin"))
    assert "Claimed: 1." in page and "Ready: 1." in page
    assert "On track: 1." in page and "Overdue: 1." in page
    assert (stat(page, "on track"), stat(page, "overdue")) == (1, 1)

    for person in (theirs.practice.account_manager, theirs.claimed_by):
        factories.sign_in(client, person)
        refused = client.get(reverse("requests_app:dashboard-admin"))
        assert refused.status_code == 403 and DISTINCTIVE not in refused.content.decode()
