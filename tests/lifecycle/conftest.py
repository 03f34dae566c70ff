"""Fixtures for the lifecycle tests: private folders, eager tasks, a fake Box the settings
point at, and a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from exportportal.celery import app
from tests.fakes.box_server import FakeBoxServer

#: a Monday afternoon; deliveries in these tests happen here
DELIVERY_TIME = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_folders(settings, tmp_path):
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    settings.EXPORT_DELIVERY_BACKEND = "local"


@pytest.fixture(autouse=True)
def eager_tasks() -> Iterator[None]:
    """Tasks run in the caller, retries included (their countdowns are skipped)."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Starts at ``DELIVERY_TIME``; ``clock.move_to(...)`` jumps (nothing sleeps)."""
    with time_machine.travel(DELIVERY_TIME, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fake_box(settings) -> Iterator[FakeBoxServer]:
    """A fake Box API on loopback, with the settings pointing delivery at it."""
    with FakeBoxServer(part_size=1024) as box:
        settings.EXPORT_DELIVERY_BACKEND = "box"
        settings.BOX_AUTH = "ccg"
        settings.BOX_CLIENT_ID = "portal-client"
        settings.BOX_CLIENT_SECRET = "portal-secret"
        settings.BOX_ENTERPRISE_ID = "900001"
        settings.BOX_PARENT_FOLDER_ID = box.add_folder("Export Portal deliveries").id
        settings.BOX_API_URL = box.api_url
        settings.BOX_UPLOAD_URL = box.upload_url
        settings.BOX_OAUTH_URL = box.oauth_url
        settings.BOX_CHUNKED_UPLOAD_BYTES = 2048
        yield box
