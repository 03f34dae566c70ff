"""The claim reads the request under a row lock, so a second claimant waits for the first to
commit and is then told who owns it.

On PostgreSQL the lock is ``SELECT ... FOR UPDATE``; SQLite has no row locks and serialises
writers instead (every transaction begins IMMEDIATE, settings.py). A race on SQLite therefore
cannot show a missing ``select_for_update``: the first test pins the lock itself on every
database, the second the waiting it buys, whichever database provides it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.db.models.sql.compiler import SQLCompiler

from requests_app import services
from requests_app.models import ExportRequest, RequestEvent, Status
from requests_app.services import RequestActionError
from tests import factories


@pytest.mark.django_db
def test_the_claim_reads_the_request_under_a_row_lock_before_anything_else(monkeypatch):
    r = factories.export_request(status=Status.READY)
    member = factories.data_member()
    reads: list[bool] = []
    execute = SQLCompiler.execute_sql

    def recording(compiler, *args, **kwargs):
        if compiler.query.model is ExportRequest:
            reads.append(compiler.query.select_for_update)
        return execute(compiler, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "execute_sql", recording)

    services.export_request_claim(export_request_id=r.pk, actor=member)

    assert reads and reads[0] is True, "the claim's first read of the request is not locked"


@pytest.mark.django_db(transaction=True)
def test_a_second_claimant_waits_for_the_first_and_is_told_who_owns_it():
    r = factories.export_request(status=Status.READY)
    first, second = factories.data_member(), factories.data_member()
    first_inside, let_first_commit = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def hold_the_first_claim_open(sender, instance, created, **kwargs):
        if instance.action == "request.claimed" and instance.actor_id == first.pk:
            first_inside.set()
            let_first_commit.wait(10)

    def claim(name: str, member) -> None:
        try:
            services.export_request_claim(export_request_id=r.pk, actor=member)
            outcomes[name] = "won"
        except RequestActionError as refused:
            outcomes[name] = str(refused)
        except BaseException as error:  # reported by the assertions below
            outcomes[name] = repr(error)
        finally:
            connection.close()

    post_save.connect(hold_the_first_claim_open, sender=RequestEvent)
    try:
        first_thread = threading.Thread(target=claim, args=("first", first))
        first_thread.start()
        assert first_inside.wait(10)
        second_thread = threading.Thread(target=claim, args=("second", second))
        second_thread.start()
        second_thread.join(timeout=1)
        second_waited = second_thread.is_alive()
        let_first_commit.set()
        first_thread.join(timeout=30)
        second_thread.join(timeout=30)
    finally:
        let_first_commit.set()
        post_save.disconnect(hold_the_first_claim_open, sender=RequestEvent)

    assert second_waited, "the second claim went ahead while the first was still open"
    assert outcomes == {
        "first": "won",
        "second": f"Already claimed by {first.get_full_name()}.",
    }
    assert ExportRequest.objects.get(pk=r.pk).claimed_by == first
