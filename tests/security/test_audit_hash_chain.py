"""The audit trail is tamper-evident: every request event holds the hash of the one before, and
a check (command and admin page) points at the first link that no longer holds."""

import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse

from requests_app.audit_chain import GENESIS_HASH, event_digest, verify_chain
from requests_app.models import AppendOnlyError, AuditChainHead, RequestEvent, Status
from tests import factories

TABLE = RequestEvent._meta.db_table


def raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(TABLE)), params)


def some_events() -> list[RequestEvent]:
    factories.export_request(status=Status.READY)  # filed, addendum, signature, fee: 4+ events
    return list(RequestEvent.objects.order_by("id"))


@pytest.mark.django_db
def test_each_event_links_to_the_one_before_and_the_chain_verifies():
    events = some_events()
    assert len(events) >= 4
    assert events[0].previous_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.previous_hash == before.hash
    assert len({event.hash for event in events}) == len(events)
    report = verify_chain()
    assert report.intact and report.events_checked == len(events)
    assert AuditChainHead.objects.get().last_hash == events[-1].hash


@pytest.mark.django_db
def test_a_row_changed_with_raw_sql_is_found_by_the_command_and_the_page(client):
    events = some_events()
    target = events[2]
    raw("UPDATE {table} SET note = %s WHERE id = %s", ["nothing to see", target.pk])

    with pytest.raises(CommandError, match=f"broken at event {target.pk}: its recorded contents"):
        call_command("verify_audit_chain")

    factories.sign_in(client, factories.admin())
    page = client.get(reverse("requests_app:audit-chain"))
    assert page.status_code == 409
    assert f"The chain breaks at event {target.pk}".encode() in page.content


@pytest.mark.django_db
def test_a_row_changed_and_re_hashed_is_caught_at_the_next_link():
    events = some_events()
    target, following = events[1], events[2]
    target.note = "edited"
    forged = event_digest(target, target.previous_hash)  # the forger recomputes its hash
    raw("UPDATE {table} SET note = %s, hash = %s WHERE id = %s", ["edited", forged, target.pk])

    report = verify_chain()

    assert report.first_break.event_id == following.pk
    assert "does not link to the event before it" in report.first_break.reason


@pytest.mark.django_db
def test_a_deleted_row_breaks_the_link_of_the_event_after_it():
    events = some_events()
    raw("DELETE FROM {table} WHERE id = %s", [events[1].pk])
    report = verify_chain()
    assert report.first_break.event_id == events[2].pk
    assert "does not link to the event before it" in report.first_break.reason


@pytest.mark.django_db
def test_deleting_the_newest_rows_is_caught_at_the_head():
    events = some_events()
    raw("DELETE FROM {table} WHERE id = %s", [events[-1].pk])
    report = verify_chain()
    assert report.first_break.event_id == events[-1].pk
    assert "newest recorded events are missing" in report.first_break.reason


@pytest.mark.django_db
def test_an_intact_chain_is_reported_intact(client):
    some_events()
    call_command("verify_audit_chain")  # no error
    factories.sign_in(client, factories.admin())
    page = client.get(reverse("requests_app:audit-chain"))
    assert page.status_code == 200 and b"The chain holds" in page.content


@pytest.mark.django_db
def test_events_cannot_be_bulk_created_around_the_chain():
    r = factories.export_request()
    with pytest.raises(AppendOnlyError):
        RequestEvent.objects.bulk_create([RequestEvent(request=r, action="test.bulk")])


@pytest.mark.django_db(transaction=True)
def test_events_recorded_at_the_same_time_from_two_threads_do_not_fork_the_chain():
    """On PostgreSQL the chain head's row lock orders the writers; on SQLite the write lock."""
    r = factories.export_request()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def record(name: str) -> None:
        try:
            barrier.wait()
            for number in range(15):
                RequestEvent.objects.create(request_id=r.pk, action=f"test.{name}.{number}")
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert RequestEvent.objects.filter(action__startswith="test.").count() == 30
    assert verify_chain().intact
