"""The pipeline's demo requests: run by the real pipeline on a small demo practice, in this
process (each task runs as it is sent, as a worker would run it), at past times. One waits for
review, one failed, one is delivered with its real encrypted archive, and one has expired with
the proof of its deletion. Registered with ``requests_app.demo`` at start-up."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import time_machine
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from exports import connections, lifecycle, pipeline
from exports.models import ExportJob
from requests_app import services
from requests_app.catalog import EXPORTABLE_CODES
from requests_app.demo import DemoCast, signed_addendum_pdf
from requests_app.models import ExportRequest, Practice

#: the practices whose requests went through the pipeline (name, EHR id, demo seed)
PIPELINE_PRACTICES = (
    ("Lakeside Orthopedics", "DRC-10160", 11),
    ("Pinecrest Dermatology", "DRC-10188", 12),
    ("Cedar Point Pediatrics", "DRC-10203", 13),
    ("Northgate Family Health", "DRC-10244", 14),
)
#: the smallest demo practice: the whole demo's pipeline runs take seconds
DEMO_PATIENTS = 10


@contextmanager
def tasks_run_here() -> Iterator[None]:
    """Each task runs in this process as soon as it is sent (after its commit). The emails the
    run writes go nowhere: the demo's people are not to get them. The demo practice's one very
    large document is kept to 1 MB, so seeding stays quick and small."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
            EXPORT_DEMO_LARGE_DOCUMENT_BYTES=1024 * 1024,
        ):
            yield
    finally:
        current_app.conf.task_always_eager = previous


def seed_pipeline_requests(cast: DemoCast) -> None:
    """Once: the pipeline's demo requests (left alone on later runs)."""
    if Practice.objects.filter(ehr_practice_id=PIPELINE_PRACTICES[0][1]).exists():
        return
    now = timezone.now()
    expired, delivered, reviewing, failed = (
        _claimed_with_demo_source(cast, name, ehr_id, seed, ready_days_ago=days)
        for (name, ehr_id, seed), days in zip(PIPELINE_PRACTICES, (85, 20, 6, 4), strict=True)
    )
    with tasks_run_here():
        _run_to_review(expired, cast, now - timedelta(days=80))
        _approve(expired, cast, now - timedelta(days=79))
        _run_to_review(delivered, cast, now - timedelta(days=14))
        _approve(delivered, cast, now - timedelta(days=13))
        _run_to_review(reviewing, cast, now - timedelta(days=2))
        # The failed run fails before any of its work is sent.
        with time_machine.travel(now - timedelta(days=1)), transaction.atomic():
            job = pipeline.pipeline_start(export_request_id=failed.pk, actor=cast.data_member)
            pipeline.pipeline_fail(
                job.pk, message="The practice's server stopped answering; retry resumes."
            )
        # The expired one's access ended 19 days ago: today's lifecycle pass deletes it.
        lifecycle.run_delivery_lifecycle(now)


def _claimed_with_demo_source(
    cast: DemoCast, name: str, ehr_id: str, seed: int, *, ready_days_ago: int
) -> ExportRequest:
    manager, member = cast.manager, cast.data_member
    start = timezone.now() - timedelta(days=ready_days_ago + 3)
    with time_machine.travel(start, tick=False), transaction.atomic():
        practice = services.practice_create(
            name=name, ehr_practice_id=ehr_id, account_manager=manager
        )
        r = services.export_request_file(
            actor=manager,
            practice=practice,
            poc_name="Morgan Lee",
            poc_email=f"records@{ehr_id.lower()}.example.org",
            categories=list(EXPORTABLE_CODES),
            fee_amount=Decimal("1800.00"),
        )
        services.export_request_send_addendum(export_request_id=r.pk, actor=manager)
    with time_machine.travel(start + timedelta(days=3), tick=False), transaction.atomic():
        services.export_request_record_signed_addendum(
            export_request_id=r.pk, actor=manager, signed_addendum=signed_addendum_pdf(name)
        )
        services.export_request_record_fee(
            export_request_id=r.pk,
            actor=manager,
            amount=Decimal("1800.00"),
            invoice_reference=f"INV-{ehr_id}",
        )
        services.export_request_claim(export_request_id=r.pk, actor=member)
        connections.source_connect_demo(
            export_request_id=r.pk, actor=member, patients=DEMO_PATIENTS, seed=seed
        )
    with time_machine.travel(start + timedelta(days=3, hours=1), tick=False):
        staging = pipeline.make_private_dir(Path(settings.EXPORT_STAGING_DIR))
        with tempfile.TemporaryDirectory(dir=staging) as spool:
            connections.source_test_connection(
                export_request_id=r.pk, actor=member, spool_dir=Path(spool)
            )
    return r


def _run_to_review(r: ExportRequest, cast: DemoCast, when) -> ExportJob:
    """Start the run at ``when``; extraction and packaging run through to the review."""
    with time_machine.travel(when):
        return pipeline.pipeline_start(export_request_id=r.pk, actor=cast.data_member)


def _approve(r: ExportRequest, cast: DemoCast, when) -> None:
    """Approved (the demo's damaged files acknowledged, as the reviewer would), then delivered."""
    with time_machine.travel(when):
        pipeline.pipeline_approve(
            export_request_id=r.pk, actor=cast.data_member, acknowledge_failures=True
        )
