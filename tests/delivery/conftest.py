"""Fixtures for the delivery tests: archive parts on disk, a fake Box, a Box backend on it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exports.delivery.box import BoxBackend, BoxSettings
from exports.delivery.resume import JsonFileSessionStore
from tests.fakes.box_server import FakeBoxServer

PART_SIZE = 1024  # the fake's chunk size: a few KiB make a multi-chunk upload
CHUNKED_THRESHOLD = 2 * PART_SIZE


@dataclass(frozen=True)
class Part:
    """An archive part as the delivery interface sees it (``ArchiveFile``)."""

    path: Path
    bytes: int
    sha256: str
    sha1: str


@pytest.fixture
def make_part(tmp_path: Path) -> Callable[[str, int], Part]:
    """``make_part(name, size)``: a file of random bytes in the archive folder, with digests."""
    directory = tmp_path / "archive"
    directory.mkdir()

    def make(name: str, size: int) -> Part:
        data = os.urandom(size)
        path = directory / name
        path.write_bytes(data)
        return Part(
            path=path,
            bytes=size,
            sha256=hashlib.sha256(data).hexdigest(),
            sha1=hashlib.sha1(data).hexdigest(),
        )

    return make


@pytest.fixture(autouse=True)
def _sizes_agree_with_the_tests(request):
    module = request.module
    if hasattr(module, "PART_SIZE"):
        assert (module.PART_SIZE, module.CHUNKED_THRESHOLD) == (PART_SIZE, CHUNKED_THRESHOLD)


@pytest.fixture
def fake_box() -> Iterator[FakeBoxServer]:
    with FakeBoxServer(part_size=PART_SIZE) as server:
        yield server


@pytest.fixture
def delivery_parent(fake_box: FakeBoxServer) -> str:
    return fake_box.add_folder("Export Portal deliveries").id


@pytest.fixture
def box_settings(fake_box: FakeBoxServer, delivery_parent: str) -> BoxSettings:
    return BoxSettings(
        parent_folder_id=delivery_parent,
        client_id="portal-client",
        client_secret="portal-secret",
        enterprise_id="900001",
        api_url=fake_box.api_url,
        upload_url=fake_box.upload_url,
        oauth_url=fake_box.oauth_url,
        chunked_upload_threshold=CHUNKED_THRESHOLD,
        max_attempts=3,
        retry_base_interval=0.001,
        max_retry_wait=0.01,
        connect_timeout=2,
        read_timeout=5,
    )


@pytest.fixture
def make_box_backend(box_settings: BoxSettings, tmp_path: Path) -> Callable[[], BoxBackend]:
    """A fresh backend each call, as a new worker process would build it, sharing one
    upload-session store in the request's staging area."""
    store = JsonFileSessionStore(tmp_path / "staging" / "box-sessions")
    return lambda: BoxBackend.from_settings(box_settings, session_store=store)
