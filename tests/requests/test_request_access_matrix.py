"""Who may open every page and press every button: each role, signed out, and on their own
request and on someone else's.

The matrix names every URL the project serves (the Django admin through its index: its own
pages are checked as a whole below), so a new URL fails here until someone says who may use
it. A request a person may not see is a 404 (its existence is not disclosed); a page or step
they may not use is a 403; both are logged as permission failures. A refused POST changes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from exports.models import ExportJob, SourceConnection
from requests_app.actions import ACTIONS_BY_SLUG
from requests_app.models import ExportRequest, RequestEvent, Status
from tests.factories import sign_in
from tests.requests.cast import CONNECTED, HELD, Cast, form_data

pytestmark = pytest.mark.django_db

S = Status
GET, POST = "GET", "POST"
OK = 200


@dataclass(frozen=True)
class To:
    """A redirect to the page called ``name`` (its query string aside)."""

    name: str


SIGN_IN = To("accounts:login")
DONE = To("requests_app:detail")  # the step was taken: back to the request page
ADMIN_SIGN_IN = To("admin:login")  # the Django admin turns away everyone but admins


@dataclass(frozen=True)
class Case:
    """One URL (one action, for the request page's buttons) and what each role gets.

    For a URL about one request, each role's entry is (own request, someone else's), and
    ``state`` is the state the request is in; otherwise it is one outcome."""

    name: str
    manager: object
    data_team: object
    admin: object
    method: str = GET
    state: str | None = None
    slug: str | None = None
    anonymous: object = SIGN_IN
    data: dict = field(default_factory=dict)
    of_practice: bool = False  # the URL names the request's practice, not the request

    @property
    def id(self) -> str:
        return "-".join(filter(None, [self.name, self.slug, self.method, self.state]))

    def form(self) -> dict:
        """What the POST sends; made afresh each time (an uploaded file is read once)."""
        return form_data(self.slug) if self.slug else self.data

    def args(self, export_request: ExportRequest | None) -> list:
        if export_request is None:
            return []
        if self.of_practice:
            return [export_request.practice_id]
        return [export_request.pk, self.slug] if self.slug else [export_request.pk]


def action(slug: str, state: str, manager, data_team, admin=(DONE, DONE)) -> Case:
    return Case("requests_app:action", manager, data_team, admin, POST, state, slug)


ACCOUNT_MANAGER_STEP = ((DONE, 404), (404, 404))  # before ready: hidden from the data team
CLAIMANT_STEP = ((403, 404), (DONE, 403))  # the data team's side: the claimant's only

MATRIX = (
    # -- signing in, and each role's landing page
    Case(
        "accounts:home",
        To("requests_app:dashboard-account-manager"),
        To("requests_app:dashboard-data-team"),
        To("requests_app:dashboard-admin"),
    ),
    Case("accounts:login", *[To("accounts:home")] * 3, anonymous=OK),
    Case("accounts:verify", *[To("accounts:home")] * 3),
    Case("accounts:enrol", OK, OK, OK),
    Case("accounts:confirm-code", *[To("accounts:home")] * 3),  # just signed in: fresh
    # -- health: the same answer for everyone, signed in or not (503: no worker seen here)
    Case("healthz", 503, 503, 503, anonymous=503),
    Case("accounts:logout", *[To("accounts:login")] * 3, method=POST),
    # -- lists, filing, the audit
    Case("requests_app:dashboard-account-manager", OK, 403, OK),
    Case("requests_app:dashboard-data-team", 403, OK, OK),
    Case("requests_app:dashboard-admin", 403, 403, OK),
    Case("requests_app:file", OK, 403, OK),
    Case("requests_app:practices", OK, 403, OK),
    Case("requests_app:practice-add", OK, 403, OK),
    Case(
        "requests_app:practice-edit",
        (OK, 404),
        (403, 403),
        (OK, OK),
        state=S.DRAFT,
        of_practice=True,
    ),
    Case("requests_app:audit", 403, 403, OK),
    Case("requests_app:audit-csv", 403, 403, OK),
    Case("requests_app:audit-chain", 403, 403, OK),
    Case("admin:index", ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK, anonymous=ADMIN_SIGN_IN),
    # -- the portal's FHIR signing keys: admins only; their public JWKS: anyone, signed in or not
    Case("exports:smart-keys", 403, 403, OK),
    Case(
        "exports:smart-keys", 403, 403, To("exports:smart-keys"), POST, data={"algorithm": "ES384"}
    ),
    Case("exports:smart-jwks", OK, OK, OK, anonymous=OK),
    # -- the deliverable's data dictionary documents the format, holds no PHI: anyone
    Case("exports:data-dictionary", OK, OK, OK, anonymous=OK),
    # -- one request's pages
    Case("requests_app:detail", (OK, 404), (404, 404), (OK, OK), state=S.DRAFT),
    Case("requests_app:detail", (OK, 404), (OK, OK), (OK, OK), state=S.CLAIMED),
    Case("requests_app:signed-addendum", (OK, 404), (403, 403), (OK, OK), state=S.READY),
    Case("requests_app:live", (OK, 404), (OK, OK), (OK, OK), state=S.CLAIMED),
    Case("exports:manifest-download", (403, 403), (OK, 403), (OK, OK), state=S.AWAITING_REVIEW),
    Case("exports:reveal-passwords", (OK, 404), (403, 403), (OK, OK), POST, S.DELIVERED),
    Case("exports:early-deletion", (403, 403), (403, 403), (OK, OK), state=S.DELIVERED),
    Case(
        "exports:early-deletion",
        (403, 403),
        (403, 403),
        (DONE, DONE),
        POST,
        S.DELIVERED,
        data={"reason": "The practice asked", "confirm": "on"},
    ),
    Case("requests_app:edit", (OK, 404), (403, 403), (OK, OK), state=S.READY),
    Case(
        "requests_app:edit",
        (DONE, 404),
        (403, 403),
        (DONE, DONE),
        POST,
        S.READY,
        data={
            "poc_name": "Sam Changed",
            "poc_email": "sam@example.org",
            "categories": ["demographics"],
            "fee_currency": "USD",
        },
    ),
    # -- the request page's buttons: the account manager's, the data team's, the admin's
    action("send-addendum", S.DRAFT, *ACCOUNT_MANAGER_STEP),
    action("signed-addendum", S.ADDENDUM_SENT, *ACCOUNT_MANAGER_STEP),
    action("fee", S.ADDENDUM_SENT, *ACCOUNT_MANAGER_STEP),
    action("claim", S.READY, (403, 404), (DONE, DONE)),
    action("release", S.CLAIMED, *CLAIMANT_STEP),
    action("hold", S.CLAIMED, (DONE, 404), (DONE, 403)),
    action("resume", HELD, (DONE, 404), (DONE, 403)),
    action("cancel", S.READY, (DONE, 404), (403, 403)),
    action("extend", S.READY, (403, 404), (403, 403)),
    action("assign-owner", S.READY, (403, 404), (403, 403)),
    # -- the pipeline's buttons
    action("connect-demo", S.CLAIMED, *CLAIMANT_STEP),
    action("connect-drchrono", S.CLAIMED, *CLAIMANT_STEP),
    action("connect-fhir-bulk", S.CLAIMED, *CLAIMANT_STEP),
    action("test-connection", CONNECTED, *CLAIMANT_STEP),
    action("start-extraction", CONNECTED, *CLAIMANT_STEP),
    action("approve-delivery", S.AWAITING_REVIEW, *CLAIMANT_STEP),
    action("reject-export", S.AWAITING_REVIEW, *CLAIMANT_STEP),
    action("retry-pipeline", S.FAILED, *CLAIMANT_STEP),
    action("stop-pipeline", S.EXTRACTING, *CLAIMANT_STEP),
)

ROLES = ("manager", "data_team", "admin")
CAST_MEMBER = {"manager": "manager", "data_team": "claimant", "admin": "admin"}


def url_patterns(patterns=None, namespace: str = ""):
    """Every URL pattern the resolver knows, with its namespaced name ("requests_app:detail");
    an unnamed pattern goes by its route."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from url_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield ":".join(filter(None, [namespace, entry.name or str(entry.pattern)])), entry


def test_the_matrix_covers_every_url_and_every_request_action():
    portal = {name for name, _ in url_patterns() if not name.startswith("admin:")}
    assert {case.name for case in MATRIX} == portal | {"admin:index"}
    assert {case.slug for case in MATRIX if case.slug} == set(ACTIONS_BY_SLUG)


def _cells():
    for case in MATRIX:
        sides = ("own", "other") if case.state else ("-",)
        for role in ROLES:
            for side in sides:
                yield pytest.param(case, role, side, id=f"{case.id}-{role}-{side}")
        yield pytest.param(case, "anonymous", sides[0], id=f"{case.id}-anonymous")


def snapshot(export_request: ExportRequest | None) -> tuple:
    """Everything a step could change on a request: its row, events, source and runs."""
    if export_request is None:
        return ()
    pk = export_request.pk
    return (
        ExportRequest.objects.filter(pk=pk).values().get(),
        list(RequestEvent.objects.filter(request_id=pk).values_list("pk", flat=True)),
        list(SourceConnection.objects.filter(request_id=pk).values()),
        list(ExportJob.objects.filter(request_id=pk).values()),
    )


@pytest.mark.parametrize(("case", "role", "side"), list(_cells()))
def test_who_may_use_each_url(client, caplog, case, role, side):
    cast = Cast.create()
    export_request = cast.request(case.state, own=side == "own") if case.state else None
    if role == "anonymous":
        expected = case.anonymous
    else:
        person = getattr(cast, CAST_MEMBER[role])
        sign_in(client, person)
        outcome = getattr(case, role)
        expected = outcome[0 if side == "own" else 1] if case.state else outcome
    before = snapshot(export_request)
    url = reverse(case.name, args=case.args(export_request))

    with caplog.at_level(logging.WARNING):
        response = getattr(client, case.method.lower())(url, case.form())

    if isinstance(expected, To):
        assert response.status_code == 302
        args = [export_request.pk] if expected is DONE else []
        assert response["Location"].split("?")[0] == reverse(expected.name, args=args)
    else:
        assert response.status_code == expected
    if expected in (403, 404):
        assert f"permission denied: user={person.pk} " in caplog.text
    if case.method == POST and export_request is not None:
        if expected in (OK, DONE):
            assert snapshot(export_request)[1] != before[1], "the step is recorded"
        else:
            assert snapshot(export_request) == before, "a refused step changes nothing"


@pytest.mark.parametrize("slug", ACTIONS_BY_SLUG)
def test_request_actions_refuse_get(client, slug):
    cast = Cast.create()
    export_request = cast.request(S.DRAFT)
    sign_in(client, cast.admin)
    url = reverse("requests_app:action", args=[export_request.pk, slug])
    assert client.get(url).status_code == 405


def test_an_unknown_action_is_not_found(client):
    cast = Cast.create()
    sign_in(client, cast.admin)
    export_request = cast.request(S.DRAFT)
    url = reverse("requests_app:action", args=[export_request.pk, "delete"])
    assert client.post(url).status_code == 404


@pytest.mark.parametrize("role", ["manager", "data_team", "anonymous"])
def test_the_django_admin_turns_away_everyone_but_admins(client, role):
    """Every page of the Django admin, the ones its models add included, sends anyone else to
    its sign-in page (which then says they may not enter)."""
    cast = Cast.create()
    if role != "anonymous":
        sign_in(client, getattr(cast, CAST_MEMBER[role]))
    for name, pattern in url_patterns():
        if not name.startswith("admin:") or name in ("admin:login", "admin:logout"):
            continue
        if pattern.name is None:  # the admin's catch-all redirects, which name no page
            continue
        kwargs = {
            key: "requests_app" if key == "app_label" else "1"
            for key in pattern.pattern.regex.groupindex
        }
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("admin:login")), name
