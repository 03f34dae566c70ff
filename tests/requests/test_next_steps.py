"""One place decides who may act: "Next steps" names exactly the steps this person can take now,
the pipeline card offers exactly its share of them, and a service refuses whatever the rule
does not allow, whatever the page showed."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from exports import pipeline
from requests_app.models import Status
from requests_app.selectors import actions_for
from requests_app.services import RequestActionError
from tests.factories import sign_in
from tests.requests.cast import CONNECTED, Cast

pytestmark = pytest.mark.django_db

NEXT_STEPS = re.compile(
    r'<section class="card" aria-labelledby="actions-heading">(.*?)</section>', re.S
)
PIPELINE_CARD = re.compile(r'<section class="card pipeline" id="pipeline-panel".*?</section>', re.S)


@pytest.fixture
def cast() -> Cast:
    return Cast.create()


def page_of(client, user, export_request) -> str:
    sign_in(client, user)
    return client.get(reverse("requests_app:detail", args=[export_request.pk])).content.decode()


def next_steps(page: str) -> list[str]:
    return re.findall(r'data-action="([\w-]+)"', NEXT_STEPS.search(page).group(1))


def card_controls(page: str) -> list[str]:
    return re.findall(r'id="action-([\w-]+)"', PIPELINE_CARD.search(page).group(0))


@pytest.mark.parametrize(
    ("status", "who", "expected"),
    [
        (Status.AWAITING_REVIEW, "claimant", ["approve-delivery", "reject-export",
                                              "stop-pipeline"]),
        (Status.FAILED, "claimant", ["connect-demo", "connect-drchrono", "connect-fhir-bulk",
                                     "test-connection",
                                     "retry-pipeline", "stop-pipeline"]),
        (CONNECTED, "claimant", ["connect-demo", "connect-drchrono", "connect-fhir-bulk",
                                     "test-connection",
                                 "start-extraction"]),
        (Status.EXTRACTING, "claimant", ["stop-pipeline"]),
        (Status.AWAITING_REVIEW, "admin", ["approve-delivery", "reject-export", "stop-pipeline"]),
        (Status.AWAITING_REVIEW, "data", []),
        (Status.AWAITING_REVIEW, "manager", []),
    ],
)  # fmt: skip
def test_next_steps_names_exactly_the_pipeline_actions_the_card_offers(
    client, cast, status, who, expected
):
    export_request = cast.request(status)
    page = page_of(client, getattr(cast, who), export_request)

    offered = next_steps(page)
    pipeline_steps = [slug for slug in offered if f'href="#action-{slug}"' in page]
    assert card_controls(page) == pipeline_steps == expected


def test_the_data_team_reviewing_an_export_is_told_what_to_do(client, cast):
    page = page_of(client, cast.claimant, cast.request(Status.AWAITING_REVIEW))
    steps = NEXT_STEPS.search(page).group(1)
    assert "Nothing for you to do" not in steps
    assert "Approve and deliver" in steps and "Reject this export" in steps


def test_a_failed_stage_shows_retry_in_next_steps(client, cast):
    steps = NEXT_STEPS.search(page_of(client, cast.claimant, cast.request(Status.FAILED)))
    assert "Retry the failed stage" in steps.group(1)


def test_next_steps_comes_before_the_rest_of_the_page(client, cast):
    page = page_of(client, cast.claimant, cast.request(Status.AWAITING_REVIEW))
    assert page.index('id="actions-heading"') < page.index('id="pipeline-heading"')
    assert page.index('id="actions-heading"') < page.index('id="timeline-heading"')


def test_a_person_with_nothing_to_do_is_told_so(client, cast):
    page = page_of(client, cast.data, cast.request(Status.AWAITING_REVIEW))
    assert next_steps(page) == []
    assert "Nothing for you to do on this request now." in page


def test_request_steps_and_pipeline_steps_come_from_one_answer(cast):
    export_request = cast.request(Status.CLAIMED)
    slugs = [action.slug for action in actions_for(cast.claimant, export_request)]
    assert slugs == ["release", "hold", "connect-demo", "connect-drchrono", "connect-fhir-bulk"]
    assert [a.slug for a in actions_for(cast.admin, export_request)] == [
        "release", "hold", "extend", "assign-owner", "cancel", "connect-demo", "connect-drchrono",
        "connect-fhir-bulk",
    ]  # fmt: skip


def test_a_service_refuses_what_the_rule_does_not_offer_whatever_the_page_showed(cast):
    reviewing = cast.request(Status.AWAITING_REVIEW)
    assert "approve-delivery" not in [a.slug for a in actions_for(cast.data, reviewing)]
    with pytest.raises(PermissionDenied):
        pipeline.pipeline_approve(
            export_request_id=reviewing.pk, actor=cast.data, acknowledge_failures=True
        )

    running = cast.request(Status.EXTRACTING)
    assert "retry-pipeline" not in [a.slug for a in actions_for(cast.claimant, running)]
    with pytest.raises(RequestActionError, match="not possible now"):
        pipeline.pipeline_retry(export_request_id=running.pk, actor=cast.claimant)
