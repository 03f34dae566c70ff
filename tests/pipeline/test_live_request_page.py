"""While the pipeline runs, the request page follows it as one: a single poll brings every region
that can change (Next steps, the status card, the timeline, the plan, the pipeline card,
History), so no region still says what another has moved past. The poll runs only while the
pipeline can move the request on by itself."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from exports import pipeline
from tests.factories import sign_in

pytestmark = pytest.mark.django_db

REGIONS = ("next-steps", "facts", "handoff", "timeline", "plan", "pipeline", "history")
POLL = 'hx-trigger="every'


def live_regions(client, request) -> dict[str, str]:
    """One refresh, as the page's poll asks for it: each region htmx swaps in by its id."""
    url = reverse("requests_app:live", args=[request.pk])
    answer = client.get(url, headers={"HX-Request": "1"})
    assert answer.status_code == 200 and answer["Cache-Control"].startswith("max-age=0")
    html = answer.content.decode()
    parts = re.split(r'<div class="live-region" id="live-([\w-]+)" hx-swap-oob="true">', html)
    regions = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert tuple(regions) == REGIONS
    regions["poll"] = parts[0]
    return regions


def page(client, request) -> str:
    return client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()


def status_in(facts: str) -> str:
    return re.search(r"<dt>Status</dt><dd>([^<]+)</dd>", facts).group(1)


def test_one_refresh_brings_review_to_every_region_and_ends_the_poll(client, started_job):
    request, member, job = started_job
    sign_in(client, member)
    before = page(client, request)
    assert POLL in before and 'id="live-next-steps"' in before
    assert "Approve and deliver" not in before

    # The workers extract and package: the request awaits review.
    for batch_id in pipeline.job_plan(job.pk):
        assert pipeline.batch_run(batch_id, worker="worker-a")
    assert pipeline.job_package(job.pk)
    now = live_regions(client, request)

    assert status_in(now["facts"]) == "Awaiting review"
    assert "Approve and deliver" in now["next-steps"] and "Reject this export" in now["next-steps"]
    assert "Nothing for you to do" not in now["next-steps"]
    assert (
        "Run 1 · Awaiting review" in now["pipeline"]
        and 'id="action-approve-delivery"' in now["pipeline"]
    )
    assert "Awaiting review from" in now["timeline"]  # the chart's status bars
    assert "Data extracted" in now["history"] and "Archive packaged" in now["history"]
    assert POLL not in now["poll"]  # nothing moves on by itself now: the polling stops


def test_one_refresh_brings_a_failed_stage_and_its_retry_to_every_region(client, started_job):
    request, member, job = started_job
    sign_in(client, member)
    assert "Retry the failed stage" not in page(client, request)

    pipeline.pipeline_fail(job.pk, message="The source stopped answering.")
    now = live_regions(client, request)

    assert status_in(now["facts"]) == "Failed"
    assert "Retry the failed stage" in now["next-steps"]
    assert (
        "Failed in extracting" in now["pipeline"]
        and 'id="action-retry-pipeline"' in now["pipeline"]
    )
    assert "Failed from" in now["timeline"]
    assert "Export failed" in now["history"]
    assert "The source stopped answering." in now["history"]
    assert POLL not in now["poll"]


def test_a_page_that_nothing_moves_on_by_itself_does_not_poll(client, started_job):
    request, member, _ = started_job
    pipeline.pipeline_stop(export_request_id=request.pk, actor=member, reason="Wrong practice")
    sign_in(client, member)

    claimed = page(client, request)

    assert POLL not in claimed and 'id="live-poll" hidden' in claimed
