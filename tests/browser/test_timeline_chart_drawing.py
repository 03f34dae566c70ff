"""The timeline as Chromium draws it: the labels' real boxes, measured in the page, neither
overlap nor leave the drawing, where the layout's estimate of text widths is put to the test."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from requests_app import services
from requests_app.models import Status
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABEL_BOXES = """() => {
  const svg = document.querySelector("svg.timeline-svg");
  const frame = svg.getBoundingClientRect();
  return [...svg.querySelectorAll("text")].map((text) => {
    const box = text.getBoundingClientRect();
    return {text: text.textContent, mark: text.classList.contains("mark-label"),
            left: box.left - frame.left, right: box.right - frame.left,
            top: box.top - frame.top, bottom: box.bottom - frame.top};
  });
}"""


def overlaps(one, other) -> bool:
    return not (
        one["right"] <= other["left"]
        or other["right"] <= one["left"]
        or one["bottom"] <= other["top"]
        or other["bottom"] <= one["top"]
    )


def test_marks_on_nearly_the_same_day_stay_apart_and_inside_the_drawing(page):
    admin = factories.admin()
    ready_at = timezone.now() - timedelta(days=29)  # "4 weeks + 1 d" falls on now
    with time_machine.travel(ready_at, tick=False):
        r = factories.export_request(status=Status.READY)
        services.export_request_grant_extension(
            export_request_id=r.pk, actor=admin, days=1, reason="Custom export of scanned charts"
        )
    with time_machine.travel(ready_at + timedelta(hours=2), tick=False):
        services.export_request_claim(export_request_id=r.pk, actor=factories.data_member())

    sign_in(page, admin.username, factories.PASSWORD)
    page.goto(f"/requests/{r.pk}/")
    boxes = page.evaluate(LABEL_BOXES)

    width = page.evaluate("() => document.querySelector('svg.timeline-svg').clientWidth")
    assert len([box for box in boxes if box["mark"]]) == 4  # clock, 4 weeks, 8 weeks, now
    for box in boxes:
        assert box["left"] >= 0 and box["right"] <= width, f"{box['text']} is cut"
    for i, one in enumerate(boxes):
        for other in boxes[i + 1 :]:
            assert not overlaps(one, other), f"{one['text']} overlaps {other['text']}"
