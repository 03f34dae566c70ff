"""Every step of the lifecycle, for every role: legal steps move the request and record an
event; illegal ones are refused (wrong state) or denied (wrong person) and change nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django_fsm import has_transition_perm

from requests_app.models import ExportRequest, Status
from requests_app.services import RequestActionError
from tests.requests.cast import HELD, Cast, perform

pytestmark = pytest.mark.django_db

S = Status
DENIED = "denied"
REFUSED = "refused"

CASES = [
    # action, request state, who acts, the outcome (the new status, or refused/denied)
    ("send-addendum", S.DRAFT, "manager", S.ADDENDUM_SENT),
    ("send-addendum", S.DRAFT, "admin", S.ADDENDUM_SENT),
    ("send-addendum", S.DRAFT, "other_manager", DENIED),
    ("send-addendum", S.DRAFT, "data", DENIED),
    ("send-addendum", S.ADDENDUM_SENT, "manager", REFUSED),
    ("send-addendum", S.READY, "manager", REFUSED),
    ("signed-addendum", S.ADDENDUM_SENT, "manager", S.ADDENDUM_SIGNED),
    ("signed-addendum", S.FEE_COLLECTED, "manager", S.READY),
    ("signed-addendum", S.FEE_COLLECTED, "admin", S.READY),
    ("signed-addendum", S.ADDENDUM_SENT, "other_manager", DENIED),
    ("signed-addendum", S.ADDENDUM_SENT, "data", DENIED),
    ("signed-addendum", S.DRAFT, "manager", REFUSED),
    ("signed-addendum", S.ADDENDUM_SIGNED, "manager", REFUSED),
    ("fee", S.ADDENDUM_SENT, "manager", S.FEE_COLLECTED),
    ("fee", S.ADDENDUM_SIGNED, "manager", S.READY),
    ("fee", S.ADDENDUM_SIGNED, "admin", S.READY),
    ("fee", S.ADDENDUM_SIGNED, "other_manager", DENIED),
    ("fee", S.ADDENDUM_SIGNED, "data", DENIED),
    ("fee", S.DRAFT, "manager", REFUSED),
    ("fee", S.READY, "manager", REFUSED),
    ("claim", S.READY, "data", S.CLAIMED),
    ("claim", S.READY, "admin", S.CLAIMED),
    ("claim", S.READY, "manager", DENIED),
    ("claim", S.ADDENDUM_SIGNED, "data", REFUSED),
    ("claim", S.CLAIMED, "data", REFUSED),
    ("claim", S.CLAIMED, "claimant", REFUSED),
    ("release", S.CLAIMED, "claimant", S.READY),
    ("release", S.CLAIMED, "admin", S.READY),
    ("release", S.CLAIMED, "data", DENIED),
    ("release", S.CLAIMED, "manager", DENIED),
    ("release", S.READY, "admin", REFUSED),
    ("hold", S.DRAFT, "manager", S.ON_HOLD),
    ("hold", S.CLAIMED, "claimant", S.ON_HOLD),
    ("hold", S.READY, "admin", S.ON_HOLD),
    ("hold", S.READY, "data", DENIED),
    ("hold", S.DRAFT, "other_manager", DENIED),
    ("hold", HELD, "manager", REFUSED),
    ("resume", HELD, "manager", S.CLAIMED),
    ("resume", HELD, "claimant", S.CLAIMED),
    ("resume", HELD, "admin", S.CLAIMED),
    ("resume", HELD, "data", DENIED),
    ("resume", HELD, "other_manager", DENIED),
    ("resume", S.CLAIMED, "claimant", REFUSED),
    ("cancel", S.DRAFT, "manager", S.CANCELLED),
    ("cancel", S.CLAIMED, "manager", S.CANCELLED),
    ("cancel", S.READY, "admin", S.CANCELLED),
    ("cancel", S.CLAIMED, "claimant", DENIED),
    ("cancel", S.DRAFT, "other_manager", DENIED),
    ("cancel", S.CANCELLED, "manager", REFUSED),
    ("cancel", S.EXTRACTING, "manager", REFUSED),  # once extraction starts, cancel is gone
    ("cancel", S.EXTRACTING, "admin", REFUSED),
    ("cancel", S.AWAITING_REVIEW, "manager", REFUSED),
    ("cancel", S.DELIVERED, "admin", REFUSED),
    ("extend", S.READY, "admin", S.READY),
    ("extend", S.DRAFT, "admin", S.DRAFT),
    ("extend", S.READY, "manager", DENIED),
    ("extend", S.CLAIMED, "claimant", DENIED),
    ("extend", S.CANCELLED, "admin", REFUSED),
]


@pytest.mark.parametrize(
    ("action", "state", "who", "outcome"),
    CASES,
    ids=[f"{a}-{s}-{w}" for a, s, w, _ in CASES],
)
def test_a_step_moves_the_request_or_changes_nothing(action, state, who, outcome):
    cast = Cast.create()
    before = cast.request(state)
    events_before = before.events.count()
    actor = getattr(cast, who)

    if outcome == DENIED:
        with pytest.raises(PermissionDenied):
            perform(action, before, actor)
    elif outcome == REFUSED:
        with pytest.raises(RequestActionError):
            perform(action, before, actor)
    else:
        perform(action, before, actor)

    after = ExportRequest.objects.get(pk=before.pk)
    if outcome in (DENIED, REFUSED):
        assert after.status == before.status
        assert after.events.count() == events_before
        assert after.updated_at == before.updated_at
    else:
        assert after.status == outcome
        event = after.events.last()
        assert after.events.count() == events_before + 1
        assert event.actor == actor
        assert (event.from_status, event.to_status) == (before.status, outcome)


def test_the_claimant_is_told_they_already_own_it_and_others_are_told_who_does():
    cast = Cast.create()
    claimed = cast.request(S.CLAIMED)
    with pytest.raises(RequestActionError, match="Already claimed by you"):
        perform("claim", claimed, cast.claimant)
    with pytest.raises(RequestActionError, match=f"Already claimed by {cast.claimant.first_name}"):
        perform("claim", claimed, cast.data)


def test_release_and_cancel_take_the_right_to_operate_away_from_the_claimant():
    cast = Cast.create()
    released = perform("release", cast.request(S.CLAIMED), cast.claimant)
    cancelled = perform("cancel", cast.request(S.CLAIMED), cast.manager)
    for r in (released, cancelled):
        assert not cast.claimant.has_perm("requests_app.operate_exportrequest", r)
    assert cancelled.claimed_by is None and cancelled.closed_at is not None


def test_an_extension_moves_both_marks_and_keeps_the_reason():
    cast = Cast.create()
    r = cast.request(S.READY)
    standard, promised = r.timeline.standard_due, r.timeline.promised_due
    extended = perform("extend", r, cast.admin)
    assert (extended.timeline.standard_due - standard).days == 14
    assert (extended.timeline.promised_due - promised).days == 14
    assert extended.extension_reason == "Custom requirement"
    assert extended.events.last().details == {"days": 14, "total_days": 14}


@pytest.mark.parametrize("who", ["manager", "claimant", "admin"])
@pytest.mark.parametrize(
    "method", ["start_packaging", "finish_packaging", "deliver", "fail", "expire"]
)
def test_pipeline_only_steps_are_never_a_person_s_to_take(who, method):
    cast = Cast.create()
    r = cast.request(S.CLAIMED)
    assert not has_transition_perm(getattr(r, method), getattr(cast, who))


def test_the_status_cannot_be_assigned_directly():
    """Only a declared transition moves a request; nobody can skip the steps by assignment."""
    export_request = Cast.create().request(S.DRAFT)
    with pytest.raises(AttributeError):
        export_request.status = S.DELIVERED
    assert ExportRequest.objects.get(pk=export_request.pk).status == S.DRAFT
