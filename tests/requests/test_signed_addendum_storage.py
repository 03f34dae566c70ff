"""The signed addendum's file is written before the transaction that records it: the audit
chain's lock (held from an event's write to its commit) is never held while a file is written,
and a file whose recording fails is not left behind."""

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connections

from requests_app import services
from requests_app.demo import signed_addendum_pdf
from requests_app.models import RequestEvent, Status
from requests_app.services import RequestActionError
from tests import factories


def stored_addenda() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*.pdf") if path.is_file()]


@pytest.mark.django_db(transaction=True)
def test_other_events_are_recorded_while_an_addendum_is_being_written(monkeypatch):
    uploading = factories.export_request(status=Status.ADDENDUM_SENT)
    manager = uploading.practice.account_manager
    other = factories.export_request()
    writing, may_finish = threading.Event(), threading.Event()
    real_save = FileSystemStorage._save

    def slow_save(storage, name, content):
        writing.set()
        assert may_finish.wait(10), "the test never let the write finish"
        return real_save(storage, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", slow_save)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            services.export_request_record_signed_addendum(
                export_request_id=uploading.pk,
                actor=manager,
                signed_addendum=signed_addendum_pdf("P"),
            )
        except BaseException as error:  # reported by the test below
            errors.append(error)
        finally:
            connections.close_all()

    def record_meanwhile() -> None:
        try:
            RequestEvent.objects.create(request_id=other.pk, action="test.meanwhile")
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        assert writing.wait(10)
        recorder = threading.Thread(target=record_meanwhile)
        recorder.start()
        recorder.join(timeout=5)
        recorded_while_writing = not recorder.is_alive()
    finally:
        may_finish.set()
        uploader.join(timeout=30)
    recorder.join(timeout=30)

    assert errors == []
    assert recorded_while_writing, "recording an event waited for the addendum's file write"
    uploading.refresh_from_db()
    assert uploading.status == Status.ADDENDUM_SIGNED
    assert Path(uploading.signed_addendum.path).is_file()
    assert uploading.events.filter(action="request.addendum_signed").exists()


@pytest.mark.django_db
def test_an_addendum_whose_recording_is_refused_leaves_no_file():
    export_request = factories.export_request(status=Status.DRAFT)
    manager = export_request.practice.account_manager
    before = stored_addenda()

    with pytest.raises(RequestActionError):
        services.export_request_record_signed_addendum(
            export_request_id=export_request.pk,
            actor=manager,
            signed_addendum=signed_addendum_pdf("P"),
        )

    assert stored_addenda() == before
    export_request.refresh_from_db()
    assert not export_request.signed_addendum


@pytest.mark.django_db
def test_a_recorded_addendum_is_stored_under_the_request_reference():
    export_request = factories.export_request(status=Status.ADDENDUM_SENT)
    manager = export_request.practice.account_manager

    services.export_request_record_signed_addendum(
        export_request_id=export_request.pk, actor=manager, signed_addendum=signed_addendum_pdf("P")
    )

    export_request.refresh_from_db()
    assert export_request.signed_addendum.name.startswith("addenda/")
    assert export_request.signed_addendum.name.endswith(
        f"{export_request.reference}-signed-addendum.pdf"
    )
    assert export_request.signed_addendum.read(5) == b"%PDF-"
