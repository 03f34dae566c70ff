"""Someone with write access to the database rewrites the audit trail; verification catches it.

The chain's MAC key is not in the database, and checkpoints of its head are kept outside it. The
forger here has the database only (raw SQL), unless a test says otherwise.
"""

import hashlib
import hmac
import json
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from requests_app import audit_chain, audit_checkpoints
from requests_app.audit_chain import GENESIS_HASH, event_digest, key_id, verify_chain
from requests_app.models import AuditChainHead, RequestEvent, Status
from requests_app.tasks import write_audit_checkpoint
from tests import factories

KEY = "k" * 40
NEWER_KEY = "n" * 40
WRONG_KEY = "w" * 40


@pytest.fixture(autouse=True)
def audit_settings(settings, tmp_path):
    settings.AUDIT_CHAIN_KEYS = [KEY]
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "checkpoints.jsonl"
    return settings


def execute(sql: str, params: list) -> None:
    tables = {
        "events": connection.ops.quote_name(RequestEvent._meta.db_table),
        "head": connection.ops.quote_name(AuditChainHead._meta.db_table),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**tables), params)


def some_events() -> list[RequestEvent]:
    factories.export_request(status=Status.READY)  # filed, addendum, signature, fee: 4+ events
    return list(RequestEvent.objects.order_by("id"))


def unkeyed_sha256(event: RequestEvent, previous_hash: str) -> str:
    """The chain's former digest: SHA-256 of the canonical fields, which anyone can compute."""
    fields = {
        "request": event.request_id,
        "actor": event.actor_id,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "details": event.details,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "previous_hash": previous_hash,
        "key_id": event.key_id,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def hmac_with(key: str):
    def digest(event: RequestEvent, previous_hash: str) -> str:
        fields = json.loads(json.dumps({"previous_hash": previous_hash, "id": event.pk}))
        canonical = json.dumps(fields, sort_keys=True)
        return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()

    return digest


def edit_and_rehash_everything_after(events: list[RequestEvent], index: int, digest) -> None:
    """The forger's rewrite: change one event's note, recompute its hash and every later link
    and hash with ``digest``, and move the head to the new last hash."""
    previous = events[index - 1].hash if index else GENESIS_HASH
    events[index].note = "nothing happened here"
    for event in events[index:]:
        event.previous_hash, event.hash = previous, digest(event, previous)
        execute(
            "UPDATE {events} SET note = %s, previous_hash = %s, hash = %s WHERE id = %s",
            [event.note, event.previous_hash, event.hash, event.pk],
        )
        previous = event.hash
    execute("UPDATE {head} SET last_hash = %s", [previous])


# -- forgery (a): delete the newest event and move the head back -------------------------------


@pytest.mark.django_db
def test_deleting_the_newest_event_and_moving_the_head_back_is_caught_by_the_checkpoint(
    settings,
):
    events = some_events()
    write_audit_checkpoint()  # beat's task: the head as it was, outside the database

    newest, before = events[-1], events[-2]
    execute("DELETE FROM {events} WHERE id = %s", [newest.pk])
    execute("UPDATE {head} SET last_event_id = %s, last_hash = %s", [before.pk, before.hash])

    assert verify_chain().intact  # the database alone agrees with itself: hence the checkpoints
    report = audit_checkpoints.verify()
    assert not report.intact
    assert report.events_checked == len(events) - 1
    [checkpoint] = audit_checkpoints.read_checkpoints(settings.AUDIT_CHECKPOINT_FILE)
    assert (report.checkpoints_checked, report.newest_checkpoint_at) == (1, checkpoint.at)
    assert report.first_break.event_id is None
    assert f"counted {len(events)} events; the database holds {len(events) - 1}" in (
        report.first_break.reason
    )
    assert "the newest recorded events were removed" in report.first_break.reason
    with pytest.raises(CommandError, match="broken at its head: the checkpoint of"):
        call_command("verify_audit_chain")


@pytest.mark.django_db
def test_the_page_shows_a_removal_caught_by_the_checkpoint(client):
    events = some_events()
    write_audit_checkpoint()
    execute("DELETE FROM {events} WHERE id = %s", [events[-1].pk])
    execute(
        "UPDATE {head} SET last_event_id = %s, last_hash = %s", [events[-2].pk, events[-2].hash]
    )

    factories.sign_in(client, factories.admin())
    page = client.get(reverse("requests_app:audit-chain"))

    assert page.status_code == 409
    assert b"The chain breaks at its head" in page.content
    assert b"the newest recorded events were removed" in page.content


# -- forgery (b): edit an event and re-hash everything after it --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "digest", [unkeyed_sha256, hmac_with(WRONG_KEY)], ids=["unkeyed SHA-256", "wrong key"]
)
def test_an_edited_event_re_hashed_with_everything_after_it_is_caught_at_the_edit(digest):
    events = some_events()
    edit_and_rehash_everything_after(events, 1, digest)

    report = verify_chain()  # no checkpoint needed: the key is what the forger lacks

    assert report.first_break.event_id == events[1].pk
    assert "its recorded contents were changed after the fact" in report.first_break.reason


@pytest.mark.django_db
def test_an_event_claiming_a_key_that_is_not_configured_is_caught():
    events = some_events()
    made_up = key_id(WRONG_KEY)
    execute("UPDATE {events} SET key_id = %s WHERE id = %s", [made_up, events[0].pk])

    report = verify_chain()

    assert report.first_break.event_id == events[0].pk
    assert f"signed with a key that is not configured (key id {made_up})" in (
        report.first_break.reason
    )


@pytest.mark.django_db
def test_a_forger_holding_the_key_is_still_caught_by_an_earlier_checkpoint():
    events = some_events()
    write_audit_checkpoint()
    edit_and_rehash_everything_after(events, 1, event_digest)  # the real key: every MAC holds

    assert verify_chain().intact
    report = audit_checkpoints.verify()
    assert report.first_break.event_id == events[-1].pk
    assert "differs from the checkpoint of" in report.first_break.reason


@pytest.mark.django_db
def test_an_intact_chain_agrees_with_every_checkpoint_as_it_grows(settings):
    some_events()
    write_audit_checkpoint()
    factories.export_request()
    write_audit_checkpoint()
    write_audit_checkpoint()  # nothing new: the same head again

    report = audit_checkpoints.verify()

    assert report.intact and report.checkpoints_checked == 3
    *_, newest = audit_checkpoints.read_checkpoints(settings.AUDIT_CHECKPOINT_FILE)
    assert report.newest_checkpoint_at == newest.at
    call_command("verify_audit_chain")  # no error


# -- the checkpoints themselves ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_checkpoint_is_appended_to_the_file_and_logged_with_the_head(audit_settings, caplog):
    events = some_events()
    with caplog.at_level(logging.INFO, logger="requests_app.audit_checkpoints"):
        write_audit_checkpoint()
        write_audit_checkpoint()

    lines = audit_settings.AUDIT_CHECKPOINT_FILE.read_text().splitlines()
    assert len(lines) == 2
    written = json.loads(lines[-1])
    assert written["events"] == len(events)
    assert (written["last_event_id"], written["head_hash"]) == (events[-1].pk, events[-1].hash)
    assert written["key_id"] == key_id(KEY) and len(written["mac"]) == 64
    logged = [
        record.audit_checkpoint
        for record in caplog.records
        if record.name == "requests_app.audit_checkpoints"
    ]
    assert logged[-1] == written
    assert audit_settings.AUDIT_CHECKPOINT_FILE.stat().st_mode & 0o077 == 0


def test_beat_writes_checkpoints_regularly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == "requests_app.write_audit_checkpoint"
    assert entry["schedule"] == settings.AUDIT_CHECKPOINT_MINUTES * 60


@pytest.mark.django_db
def test_an_edited_checkpoint_is_refused(audit_settings):
    some_events()
    write_audit_checkpoint()
    path = audit_settings.AUDIT_CHECKPOINT_FILE
    checkpoint = json.loads(path.read_text())
    checkpoint["events"] -= 1  # to let a removal pass
    path.write_text(json.dumps(checkpoint) + "\n")

    report = audit_checkpoints.verify()

    assert "is not signed by a configured key: the checkpoints were edited" in (
        report.first_break.reason
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line", ["{}", "not json", '{"events": "4", "last_event_id": 4, "head_hash": "", '
     '"at": "", "key_id": "", "mac": 7}'], ids=["empty", "not JSON", "wrong types"]
)  # fmt: skip
def test_a_line_that_is_not_a_checkpoint_is_refused(audit_settings, line):
    some_events()
    write_audit_checkpoint()
    with audit_settings.AUDIT_CHECKPOINT_FILE.open("a") as file:
        file.write(line + "\n")
    report = audit_checkpoints.verify()
    assert report.first_break.reason.startswith("line 2 of the checkpoints is not a checkpoint")


@pytest.mark.django_db
def test_a_checkpoint_taken_after_a_removal_does_not_whitewash_it(audit_settings):
    events = some_events()
    assert len(events) == 4
    write_audit_checkpoint()
    execute("DELETE FROM {events} WHERE id = %s", [events[-1].pk])
    execute(
        "UPDATE {head} SET last_event_id = %s, last_hash = %s", [events[-2].pk, events[-2].hash]
    )
    write_audit_checkpoint()  # the next scheduled checkpoint sees the shortened chain

    report = audit_checkpoints.verify()

    assert "counted 4 events; the database holds 3" in report.first_break.reason


@pytest.mark.django_db
def test_the_command_verifies_against_checkpoints_taken_from_the_json_log(
    audit_settings, tmp_path, caplog
):
    events = some_events()
    with caplog.at_level(logging.INFO, logger="requests_app.audit_checkpoints"):
        write_audit_checkpoint()
    log_copy = tmp_path / "from-the-log.jsonl"
    log_copy.write_text(
        "".join(
            json.dumps(
                {"message": record.getMessage(), "audit_checkpoint": record.audit_checkpoint}
            )
            + "\n"
            for record in caplog.records
            if record.name == "requests_app.audit_checkpoints"
        )
    )
    execute("DELETE FROM {events} WHERE id = %s", [events[-1].pk])
    execute(
        "UPDATE {head} SET last_event_id = %s, last_hash = %s", [events[-2].pk, events[-2].hash]
    )
    audit_settings.AUDIT_CHECKPOINT_FILE.unlink()  # the local file is gone too

    with pytest.raises(CommandError, match="the newest recorded events were removed"):
        call_command("verify_audit_chain", checkpoints=log_copy)


# -- key rotation ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_key_first_signs_new_events_and_the_old_one_still_verifies(audit_settings):
    before = some_events()
    write_audit_checkpoint()

    audit_settings.AUDIT_CHAIN_KEYS = [NEWER_KEY, KEY]
    factories.export_request()
    write_audit_checkpoint()
    after = list(RequestEvent.objects.filter(id__gt=before[-1].pk))

    assert {event.key_id for event in before} == {key_id(KEY)}
    assert {event.key_id for event in after} == {key_id(NEWER_KEY)}
    assert audit_checkpoints.verify().intact

    audit_settings.AUDIT_CHAIN_KEYS = [NEWER_KEY]  # the old key dropped too early
    report = verify_chain()
    assert report.first_break.event_id == before[0].pk
    assert "signed with a key that is not configured" in report.first_break.reason


def test_the_newest_key_signs_and_a_key_id_does_not_reveal_the_key(audit_settings):
    audit_settings.AUDIT_CHAIN_KEYS = [NEWER_KEY, KEY]
    assert audit_chain.signing_key_id() == key_id(NEWER_KEY) != key_id(KEY)
    assert KEY[:16] not in key_id(KEY) and len(key_id(KEY)) == 16


@pytest.mark.django_db
def test_a_newest_event_removed_for_a_while_and_put_back_shows_in_the_checkpoints():
    events = some_events()
    newest, before = events[-1], events[-2]
    write_audit_checkpoint()
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(RequestEvent._meta.db_table)
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [newest.pk])
        columns = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    execute("DELETE FROM {events} WHERE id = %s", [newest.pk])
    execute("UPDATE {head} SET last_event_id = %s, last_hash = %s", [before.pk, before.hash])
    write_audit_checkpoint()  # taken while it was gone
    names, marks = ", ".join(map(connection.ops.quote_name, columns)), ", ".join(["%s"] * len(row))
    execute(f"INSERT INTO {{events}} ({names}) VALUES ({marks})", list(row))
    execute("UPDATE {head} SET last_event_id = %s, last_hash = %s", [newest.pk, newest.hash])

    assert verify_chain().intact
    report = audit_checkpoints.verify()
    assert "counts fewer events than the one before it" in report.first_break.reason


@pytest.mark.django_db
def test_a_checkpoint_of_the_empty_chain_verifies_and_then_counts_for_a_first_removal():
    write_audit_checkpoint()  # a fresh install: beat runs before anything is recorded
    assert audit_checkpoints.verify().intact

    events = some_events()
    write_audit_checkpoint()
    execute("DELETE FROM {events} WHERE id = %s", [events[-1].pk])
    execute(
        "UPDATE {head} SET last_event_id = %s, last_hash = %s", [events[-2].pk, events[-2].hash]
    )

    report = audit_checkpoints.verify()
    assert report.checkpoints_checked == 2
    assert "the newest recorded events were removed" in report.first_break.reason


def test_the_digest_definition_never_changes(audit_settings):
    """Stored MACs verify only while the digest is computed exactly as when they were made:
    HMAC-SHA256 over this canonical JSON (sorted keys, no spaces), with the key it names."""
    from datetime import UTC, datetime

    kid = hashlib.sha256(b"export-portal-audit-key-id:" + KEY.encode()).hexdigest()[:16]
    event = RequestEvent(
        request_id=7,
        actor_id=3,
        action="password.revealed",
        from_status="delivered",
        to_status="delivered",
        note="Zoë asked",  # non-ASCII is encoded as UTF-8, not escaped
        details={"job": 9, "passwords": ["archive"]},
        created_at=datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC),
        key_id=kid,
    )
    canonical = (
        '{"action":"password.revealed","actor":3,"created_at":"2026-03-02T14:30:00.123456+00:00",'
        '"details":{"job":9,"passwords":["archive"]},"from_status":"delivered",'
        f'"key_id":"{kid}","note":"Zoë asked","previous_hash":"{GENESIS_HASH}","request":7,'
        '"to_status":"delivered"}'
    )
    expected = hmac.new(KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()

    assert key_id(KEY) == kid
    assert event_digest(event, GENESIS_HASH) == expected
