"""Sending the pipeline's tasks. By registered name, so the pipeline never imports
``exports.tasks`` (which imports the pipeline): the arrow points one way."""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from exports.models import Stage

PLAN_EXTRACTION = "exports.plan_extraction"
EXTRACT_PATIENTS = "exports.extract_patients"
PACKAGE_EXPORT = "exports.package_export"
DELIVER_EXPORT = "exports.deliver_export"
DELETE_DELIVERY = "exports.delete_delivery"

#: the task that runs each running stage (what a retry resumes, what the sweeper resends)
STAGE_TASKS = {
    Stage.EXTRACTING: PLAN_EXTRACTION,
    Stage.PACKAGING: PACKAGE_EXPORT,
    Stage.UPLOADING: DELIVER_EXPORT,
}


def send(task_name: str, object_id: int) -> None:
    current_app.tasks[task_name].delay(object_id)


def send_on_commit(task_name: str, object_id: int) -> None:
    """Queue the task once the surrounding transaction commits: a rolled-back change runs
    nothing."""
    transaction.on_commit(lambda: send(task_name, object_id))
