"""Run the whole portal on one machine: web server, Celery worker and beat. Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and beat together (local and demo use)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host: str, port: int, **options):
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            # -B embeds beat in this worker: fine for one machine; production runs beat alone.
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "exportportal",
                "worker",
                "-B",
                "--loglevel=INFO",
                "--queues=celery,extract,package,deliver",
                "--concurrency=2",
            ],
        }
        # `kill` (SIGTERM) stops everything too, like Ctrl-C, instead of orphaning the children.
        signal.signal(signal.SIGTERM, _interrupt)
        environment = child_environment(os.environ, host=host, port=port)
        processes = {
            name: subprocess.Popen(command, env=environment)  # noqa: S603 - fixed commands, no outside input
            for name, command in commands.items()
        }
        self.stdout.write(
            self.style.SUCCESS(
                f"Export Portal is running on http://{host}:{port}/ (Ctrl-C stops it)"
            )
        )
        try:
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            stopped = [name for name, process in processes.items() if process.poll() is not None]
            self.stderr.write(f"{', '.join(stopped)} stopped; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping...")
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def child_environment(environ, *, host: str, port: int) -> dict[str, str]:
    """The children's environment: links in emails point at this portal's own address (``PORT=8001
    make run`` included) unless PORTAL_BASE_URL says otherwise."""
    environment = dict(environ)
    environment.setdefault("PORTAL_BASE_URL", f"http://{host}:{port}")
    return environment
