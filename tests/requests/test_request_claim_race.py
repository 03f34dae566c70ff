"""Two data-team members press Claim on the same request at the same moment: one owns it, the
other is told who does. Real threads, real database connections, no mocks."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from requests_app import services
from requests_app.models import ExportRequest, Status
from requests_app.services import RequestActionError
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_claims_one_wins_the_other_is_told_who_owns_it(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    r = factories.export_request(status=Status.READY)
    first, second = factories.data_member(), factories.data_member()
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def press_claim(member) -> None:
        try:
            start.wait(timeout=10)
            services.export_request_claim(export_request_id=r.pk, actor=member)
            outcomes[member.pk] = "won"
        except RequestActionError as refused:
            outcomes[member.pk] = str(refused)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=press_claim, args=(m,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    claimed = ExportRequest.objects.get(pk=r.pk)
    winner = claimed.claimed_by
    loser = second if winner == first else first
    assert claimed.status == Status.CLAIMED
    assert outcomes[winner.pk] == "won"
    assert outcomes[loser.pk] == f"Already claimed by {winner.get_full_name()}."
    assert claimed.events.filter(action="request.claimed").count() == 1
    assert not loser.has_perm("requests_app.operate_exportrequest", claimed)
