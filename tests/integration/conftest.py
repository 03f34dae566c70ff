"""A real Celery worker process against the configured broker and the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "celery,extract,package,deliver"
# Worker settings for fault tests: retries back off from one second and nothing goes stale, so
# work that finishes was finished by the task's own retries, not by the stale-work sweeper.
RETRIES_WITHOUT_SWEEPER = {"EXPORT_TASK_RETRY_BACKOFF_SECONDS": "1", "EXPORT_STALE_SECONDS": "600"}


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for the worker."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    name: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def purge_queues() -> None:
    """Messages a previous run left (killed workers, unit tests that queued work) go first."""
    from exportportal.celery import app

    with app.connection_for_write() as connection:
        for queue in QUEUES.split(","):
            channel = connection.default_channel
            channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            channel.queue_purge(queue)


def start_worker(
    tmp_path: Path, *, concurrency: int = 1, extra_env: dict[str, str] | None = None
) -> WorkerProcess:
    name = f"test-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
        "EXPORT_DATA_DIR": str(settings.DATA_DIR),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "exportportal", "worker", f"--hostname={name}@%h",
        f"--queues={QUEUES}", f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(process, log_path, name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if " ready." in worker.log():
            return worker
        if process.poll() is not None:
            raise RuntimeError(f"The worker exited early:\n{worker.log()}")
        time.sleep(0.2)
    worker.stop()
    raise RuntimeError(f"The worker did not start within 60 s:\n{worker.log()}")


def worker_emails(pipeline_settings: dict[str, str]) -> str:
    """Every email the worker processes sent, as the file backend wrote them."""
    folder = Path(pipeline_settings["EMAIL_URL"].removeprefix("filemail:///"))
    return (
        "\n".join(path.read_text() for path in sorted(folder.glob("*.log")))
        if folder.exists()
        else ""
    )


def wait_for_delivery_emails(pipeline_settings: dict[str, str]) -> str:
    """Every email the worker processes sent, once both delivery emails are among them (each
    email leaves the outbox by a task of its own, so they arrive one by one)."""

    def both_arrived() -> str:
        emails = worker_emails(pipeline_settings)
        return emails if "is ready to download" in emails and " delivered (" in emails else ""

    return wait_for(both_arrived, message="the delivery emails from the worker")


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, pipeline_settings) -> Iterator[WorkerProcess]:
    purge_queues()
    worker = start_worker(tmp_path, extra_env=pipeline_settings)
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(condition, *, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {message}.")
