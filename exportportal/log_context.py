"""Structured logs: a request id per HTTP request and the Celery task id, on every log line.

The middleware gives each request an id (a proxy's X-Request-ID is kept when it looks like
one), returns it as a response header, and the filter stamps it, and the running task's id in
workers, on each record, so one request or task can be followed through the JSON lines.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# An id from upstream is kept only if it is short and plain, so it cannot smuggle anything in.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Assigns the request id (first in MIDDLEWARE, so every later log line carries it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        upstream = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = upstream if _ACCEPTABLE_ID.fullmatch(upstream) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``task_id`` (None outside a request or a task) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery import current_task

        record.request_id = _request_id.get()
        task = current_task
        record.task_id = task.request.id if task and task.request else None
        return True
