"""Logs are JSON lines that carry the HTTP request's id, or the Celery task's id in workers."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.urls import reverse
from pythonjsonlogger.json import JsonFormatter

from exportportal.celery import app
from exportportal.log_context import ContextFilter
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """The root logger's records as the production formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(settings.LOGGING["formatters"]["json"]["format"]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_request_gets_an_id_that_its_log_lines_and_its_response_carry(client, json_lines):
    factories.sign_in(client, factories.account_manager())
    response = client.get(reverse("requests_app:dashboard-admin"))  # refused: logs a warning

    assert response.status_code == 403
    request_id = response["X-Request-ID"]
    [line] = [line for line in json_lines() if line["message"].startswith("permission denied")]
    assert line["request_id"] == request_id
    assert line["levelname"] == "WARNING" and line["name"] == "accounts.roles"
    assert line["task_id"] is None


def test_each_request_gets_its_own_id_and_a_plain_upstream_id_is_kept(client):
    first = client.get(reverse("accounts:login"))["X-Request-ID"]
    second = client.get(reverse("accounts:login"))["X-Request-ID"]
    assert first != second and len(first) == 32
    kept = client.get(reverse("accounts:login"), headers={"X-Request-ID": "proxy-1234abcd"})
    assert kept["X-Request-ID"] == "proxy-1234abcd"
    odd = client.get(reverse("accounts:login"), headers={"X-Request-ID": "<script>x</script>"})
    assert odd["X-Request-ID"] != "<script>x</script>"


@app.task(name="tests.log_probe")
def log_probe() -> None:
    logging.getLogger("exports.tasks").info("probe ran")


def test_a_task_s_log_lines_carry_the_task_id(json_lines):
    log_probe.apply(task_id="task-0123456789")
    [line] = [line for line in json_lines() if line["message"] == "probe ran"]
    assert line["task_id"] == "task-0123456789"
    assert line["request_id"] is None
