"""Nothing under MEDIA_ROOT is served publicly: a signed addendum is reachable only through the
permission-checked download on its request, never by the file's own URL."""

import importlib
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from requests_app.models import Status
from tests.factories import sign_in
from tests.requests.cast import Cast

pytestmark = pytest.mark.django_db

PEOPLE = ("manager", "other_manager", "claimant", "data", "admin")
# The tests keep uploads in a folder of their own; this is where the portal itself keeps them.
PORTAL_MEDIA_ROOT = Path(importlib.import_module("exportportal.settings").MEDIA_ROOT)


def clients(cast: Cast) -> dict[str, Client]:
    """A signed-out visitor and one signed-in client for everyone around the request."""
    every = {"anonymous": Client()}
    for person in PEOPLE:
        every[person] = Client()
        sign_in(every[person], getattr(cast, person))
    return every


def file_urls(name: str) -> list[str]:
    """The stored file's own URL, and the places a misconfigured server might serve it."""
    return [
        f"{settings.MEDIA_URL.rstrip('/')}/{name}",
        f"/media/{name}",
        f"/{settings.STATIC_URL.strip('/')}/{name}",
        f"/{PORTAL_MEDIA_ROOT.name}/{name}",
        f"/{settings.STATIC_URL.strip('/')}/../{PORTAL_MEDIA_ROOT.name}/{name}",
    ]


def test_a_signed_addendum_is_not_served_by_its_file_url_to_anyone():
    cast = Cast.create()
    addendum = cast.request(Status.READY).signed_addendum
    assert Path(addendum.path).is_file()

    for who, client in clients(cast).items():
        for url in file_urls(addendum.name):
            assert client.get(url).status_code == 404, (who, url)


def test_only_the_permission_checked_download_serves_it_to_those_who_manage_the_request():
    cast = Cast.create()
    request = cast.request(Status.READY)
    download = reverse("requests_app:signed-addendum", args=[request.pk])
    stored = Path(request.signed_addendum.path).read_bytes()

    answers = {}
    for who, client in clients(cast).items():
        response = client.get(download)
        answers[who] = response.status_code
        if response.status_code == 200:
            assert b"".join(response.streaming_content) == stored
            assert response["Content-Disposition"].startswith("attachment;")

    assert answers == {
        "anonymous": 302,  # to the sign-in page
        "manager": 200,
        "other_manager": 404,
        "claimant": 403,
        "data": 403,
        "admin": 200,
    }


def test_uploaded_files_are_owner_only_and_outside_every_served_folder():
    addendum = Cast.create().request(Status.READY).signed_addendum

    assert Path(addendum.path).stat().st_mode & 0o777 == 0o600
    media_root = PORTAL_MEDIA_ROOT.resolve()
    for served in [Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)]:
        served = served.resolve()
        assert not media_root.is_relative_to(served) and not served.is_relative_to(media_root)
