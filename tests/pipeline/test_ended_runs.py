"""A run that ended before delivery says how and why: nothing of it is "Running now", and a
rejected or stopped run names who ended it and their reason."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from exports import pipeline
from exports.pipeline.leases import batch_claim
from tests.factories import sign_in

pytestmark = pytest.mark.django_db


def pipeline_card(client, request) -> str:
    page = client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()
    return re.search(r'<section class="card pipeline".*?</section>', page, re.S).group(0)


def test_a_run_stopped_mid_batch_shows_no_batch_running_and_says_why(client, started_job):
    request, member, job = started_job
    first_batch = pipeline.job_plan(job.pk)[0]
    assert batch_claim(first_batch, worker="worker-a")  # a worker is inside it
    sign_in(client, member)
    assert "Running now" in pipeline_card(client, request)

    pipeline.pipeline_stop(
        export_request_id=request.pk, actor=member, reason="Wrong practice attached"
    )

    card = pipeline_card(client, request)
    assert "Running now" not in card and "worker-a" not in card
    assert re.search(r"Stopped</span> by .+: Wrong practice attached", card)


def test_a_rejected_run_says_the_reviewers_reason_instead_of_a_bare_stopped(client, packaged_job):
    request, member, _ = packaged_job
    member.first_name, member.last_name = "Dana", "Reviewer"
    member.save()

    pipeline.pipeline_reject(
        export_request_id=request.pk, actor=member, reason="Appointments are missing their notes"
    )

    sign_in(client, member)
    card = pipeline_card(client, request)
    assert "Run 1 · Rejected" in card
    assert re.search(r"Rejected</span> by Dana Reviewer on .+: Appointments are missing", card)
    assert "· Stopped" not in card
