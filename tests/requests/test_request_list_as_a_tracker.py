"""The request list works as a tracker: its filters, search and order live in the URL, its
column headings sort, and search finds the point of contact too."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from lxml import html

from requests_app import selectors
from requests_app.list_columns import COLUMNS
from requests_app.models import Status
from tests import factories

pytestmark = pytest.mark.django_db

MY_REQUESTS = reverse("requests_app:dashboard-account-manager")


def shown_in_order(page: str) -> list[str]:
    return re.findall(r">(EXP-\d{6})</a>", page)


@pytest.fixture
def manager_with_three():
    manager = factories.account_manager()
    birch = factories.practice(manager, name="Birch Clinic")
    alder = factories.practice(manager, name="Alder Clinic")
    cedar = factories.practice(manager, name="Cedar Clinic")
    requests = {
        "birch": factories.export_request(practice_=birch, poc_name="Quinn Baker"),
        "alder": factories.export_request(
            practice_=alder, poc_email="pat.lowe@alder.example", status=Status.ADDENDUM_SENT
        ),
        "cedar": factories.export_request(practice_=cedar, status=Status.READY),
    }
    return manager, requests


def test_search_finds_the_point_of_contacts_name_and_email(client, manager_with_three):
    manager, requests = manager_with_three
    factories.sign_in(client, manager)
    by_email = client.get(MY_REQUESTS, {"q": "pat.lowe@alder"}).content.decode()
    by_name = client.get(MY_REQUESTS, {"q": "quinn"}).content.decode()
    assert shown_in_order(by_email) == [requests["alder"].reference]
    assert shown_in_order(by_name) == [requests["birch"].reference]


def test_a_heading_sorts_and_its_link_reverses_the_order_keeping_the_filters(
    client, manager_with_three
):
    manager, requests = manager_with_three
    factories.sign_in(client, manager)
    page = client.get(MY_REQUESTS, {"q": "clinic", "sort": "practice"}).content.decode()
    names = ("alder", "birch", "cedar")
    assert shown_in_order(page) == [requests[n].reference for n in names]

    heading = html.fromstring(page).xpath("//th[a[starts-with(normalize-space(), 'Practice')]]")[0]
    assert heading.get("aria-sort") == "ascending"
    reversed_page = client.get(MY_REQUESTS + heading.xpath("a")[0].get("href")).content.decode()
    assert shown_in_order(reversed_page) == [requests[n].reference for n in reversed(names)]
    assert 'value="clinic"' in reversed_page  # the search stays in the URL


def test_status_sorts_in_lifecycle_order(client, manager_with_three):
    manager, requests = manager_with_three
    factories.sign_in(client, manager)
    page = client.get(MY_REQUESTS, {"status": "open", "sort": "-status"}).content.decode()
    assert shown_in_order(page) == [requests[n].reference for n in ("cedar", "alder", "birch")]


def test_an_unknown_sort_key_is_refused_at_its_field_and_nothing_else_is_sorted_by_it(
    client, manager_with_three
):
    manager, _ = manager_with_three
    factories.sign_in(client, manager)
    response = client.get(MY_REQUESTS, {"sort": "poc_email"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    rows = selectors.sorted_requests(selectors.requests_managed_by(manager), "poc_email")
    assert rows.query.order_by == selectors.by_deadline(rows).query.order_by


def test_every_heading_has_a_sort_key():
    assert {key for _, key in COLUMNS} == set(selectors.SORT_KEYS)


@pytest.mark.usefixtures("manager_with_three")
def test_search_never_reaches_another_managers_requests(client):
    other = factories.account_manager()
    factories.export_request(practice_=factories.practice(other), poc_name="Quinn Baker")
    factories.sign_in(client, other)
    page = client.get(MY_REQUESTS, {"q": "pat.lowe"}).content.decode()
    assert shown_in_order(page) == []


def test_the_data_teams_ready_queue_and_the_admins_overview_sort_by_their_headings(client):
    manager = factories.account_manager()
    ready = {
        name: factories.export_request(
            practice_=factories.practice(manager, name=f"{name.title()} Clinic"),
            status=Status.READY,
        )
        for name in ("birch", "alder", "cedar")
    }
    for user, url in (
        (factories.data_member(), reverse("requests_app:dashboard-data-team")),
        (factories.admin(), reverse("requests_app:dashboard-admin")),
    ):
        client.logout()
        factories.sign_in(client, user)
        page = client.get(url).content.decode()
        heading = html.fromstring(page).xpath("//th[a[starts-with(normalize-space(), 'Practice')]]")
        by_practice = client.get(url + heading[0].xpath("a")[0].get("href")).content.decode()
        assert shown_in_order(by_practice) == [
            ready[n].reference for n in ("alder", "birch", "cedar")
        ]
        reverse_link = html.fromstring(by_practice).xpath(
            "//th[a[starts-with(normalize-space(), 'Practice')]]/a"
        )[0]
        reversed_page = client.get(url + reverse_link.get("href")).content.decode()
        assert shown_in_order(reversed_page)[:3] == [
            ready[n].reference for n in ("cedar", "birch", "alder")
        ]
