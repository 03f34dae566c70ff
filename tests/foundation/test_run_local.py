"""`make run`'s last step: the web server, a Celery worker and beat together on the embedded
defaults, and Ctrl-C (or `kill`) stops every one of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found |= {child} | children_of(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    """The environment of a fresh machine: no database or broker URL, a data folder of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_BASE_URL"}
    }
    env["EXPORT_DATA_DIR"] = str(tmp_path / "var")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return env


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_the_local_portal_serves_the_login_page_and_one_signal_stops_it_all(
    embedded_env, tmp_path, stop_signal
):
    port = free_port()
    log_path = tmp_path / "run_local.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_local", "--port", str(port)],
            cwd=ROOT, env=embedded_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        page = ""
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as answer:
                    page = answer.read().decode()
            except OSError:
                time.sleep(0.3)
        while time.monotonic() < deadline and " ready." not in log_path.read_text():
            time.sleep(0.3)
        log = log_path.read_text()
        assert "Sign in" in page, log
        assert f"Export Portal is running on http://127.0.0.1:{port}/" in log
        assert " ready." in log, "the Celery worker did not start"
        children = children_of(process.pid)
        assert len(children) >= 2  # the web server and the worker, with its pool
        links_point_here = f"PORTAL_BASE_URL=http://127.0.0.1:{port}".encode()
        assert all(
            links_point_here in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            for pid in children
        ), "emails from this portal would link to another address"

        process.send_signal(stop_signal)
        process.wait(timeout=40)
        time.sleep(0.5)
        assert not [pid for pid in children if alive(pid)], "a child outlived run_local"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in children | children_of(process.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
