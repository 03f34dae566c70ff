"""Extraction, packaging and delivery go to queues of their own, so operators scale them apart;
housekeeping stays on the default queue."""

import pytest

from exportportal.celery import app
from exports import tasks


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        (tasks.plan_extraction, "extract"),
        (tasks.extract_patients, "extract"),
        (tasks.package_export, "package"),
        (tasks.deliver_export, "deliver"),
        (tasks.sweep_pipeline, "celery"),
        (tasks.run_delivery_lifecycle, "celery"),
    ],
    ids=lambda value: getattr(value, "name", value),
)
def test_each_task_is_sent_to_its_stages_queue(task, queue):
    assert app.amqp.router.route({}, task.name)["queue"].name == queue
