"""Revealing an archive password or downloading a manifest needs a fresh second factor, for
every role: a code given within TWO_FACTOR_FRESH_SECONDS (signing in counts), else the
authenticator app is asked again."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.two_factor import confirmed_device, current_code
from exports.models import ExportJob
from tests.factories import PASSWORD, account_manager, data_member, sign_in
from tests.lifecycle.lifecycle_builders import delivered, uploading_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_folders(settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    settings.EXPORT_DELIVERY_BACKEND = "local"


@pytest.fixture
def delivered_job(django_capture_on_commit_callbacks, eager_celery):
    job = uploading_job()
    delivered(job, django_capture_on_commit_callbacks)
    return ExportJob.objects.select_related("request__practice__account_manager").get(pk=job.pk)


@pytest.fixture
def eager_celery():
    from exportportal.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def reveal(client, job, **data):
    return client.post(reverse("exports:reveal-passwords", args=[job.request_id]), data)


def later_than_fresh():
    return time_machine.travel(
        timezone.now() + timedelta(seconds=settings.TWO_FACTOR_FRESH_SECONDS + 1), tick=False
    )


def test_a_reveal_just_after_signing_in_needs_no_second_code(client, delivered_job):
    sign_in(client, delivered_job.request.practice.account_manager)
    assert delivered_job.archive_password in reveal(client, delivered_job).content.decode()


def test_later_a_reveal_asks_for_a_code_and_shows_the_password_once_it_is_given(
    client, delivered_job
):
    manager = delivered_job.request.practice.account_manager
    sign_in(client, manager)
    with later_than_fresh():
        asked = reveal(client, delivered_job).content.decode()
        assert delivered_job.archive_password not in asked
        assert "Code from your authenticator app" in asked
        assert not delivered_job.request.events.filter(action="password.revealed").exists()

        shown = reveal(client, delivered_job, code=current_code(confirmed_device(manager)))

        assert delivered_job.archive_password in shown.content.decode()
        assert delivered_job.request.events.filter(action="password.revealed").count() == 1


def test_on_the_request_page_htmx_swaps_in_the_code_form_then_the_password(client, delivered_job):
    manager = delivered_job.request.practice.account_manager
    sign_in(client, manager)
    url = reverse("exports:reveal-passwords", args=[delivered_job.request_id])
    with later_than_fresh():
        asked = client.post(url, headers={"HX-Request": "true"}).content.decode()
        assert "<html" not in asked and f'hx-post="{url}"' in asked
        assert 'hx-target="#handoff-passwords"' in asked

        code = current_code(confirmed_device(manager))
        shown = client.post(url, {"code": code}, headers={"HX-Request": "true"}).content.decode()

    assert "<html" not in shown and delivered_job.archive_password in shown


def test_a_wrong_code_reveals_nothing(client, delivered_job):
    manager = delivered_job.request.practice.account_manager
    sign_in(client, manager)
    with later_than_fresh():
        good = current_code(confirmed_device(manager))
        page = reveal(client, delivered_job, code=f"{(int(good) + 1) % 1_000_000:06d}")
    text = page.content.decode()
    assert "not right" in text and delivered_job.archive_password not in text


def test_an_account_manager_with_a_password_alone_cannot_reveal(client, delivered_job):
    manager = delivered_job.request.practice.account_manager
    client.post(reverse("accounts:login"), {"username": manager.username, "password": PASSWORD})

    response = reveal(client, delivered_job)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:verify"))
    assert not delivered_job.request.events.filter(action="password.revealed").exists()


def test_signing_in_through_the_code_page_makes_the_second_factor_fresh(client, delivered_job):
    manager = delivered_job.request.practice.account_manager
    client.post(reverse("accounts:login"), {"username": manager.username, "password": PASSWORD})
    client.post(reverse("accounts:verify"), {"code": current_code(confirmed_device(manager))})

    assert delivered_job.archive_password in reveal(client, delivered_job).content.decode()


@pytest.fixture
def staged_manifest(tmp_path):
    """A data-team member operating a request whose manifest is on disk."""
    member = data_member()
    job = uploading_job(claimed_by=member)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("Path,Bytes,SHA-256\n")
    ExportJob.objects.filter(pk=job.pk).update(manifest={"path": str(manifest), "sha256": "0"})
    return member, job


def test_a_manifest_download_later_goes_through_the_code_page_and_back(client, staged_manifest):
    member, job = staged_manifest
    url = reverse("exports:manifest-download", args=[job.request_id])
    sign_in(client, member)
    assert client.get(url).status_code == 200

    with later_than_fresh():
        asked = client.get(url)
        assert asked.status_code == 302
        assert asked["Location"].startswith(reverse("accounts:confirm-code"))

        back = client.post(asked["Location"], {"code": current_code(confirmed_device(member))})

        assert back["Location"] == url
        assert client.get(url).status_code == 200


def test_the_code_page_refuses_a_wrong_code(client, staged_manifest):
    member, _ = staged_manifest
    sign_in(client, member)
    with later_than_fresh():
        good = current_code(confirmed_device(member))
        page = client.post(
            reverse("accounts:confirm-code"), {"code": f"{(int(good) + 1) % 1_000_000:06d}"}
        )
    assert page.status_code == 200 and b"not right" in page.content


def test_every_role_has_a_device_to_give_codes_with():
    assert confirmed_device(account_manager()) is not None
