"""At the 60-day mark access ends and every copy is deleted, with proof; never shown deleted
unless the deletion was confirmed."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from exports import tasks
from exports.delivery.box import BoxSettings
from exports.models import ExportJob, Stage
from requests_app.models import Status
from tests.factories import admin
from tests.lifecycle.conftest import DELIVERY_TIME
from tests.lifecycle.lifecycle_builders import delivered, uploading_job
from tests.mail import delivered_mail

pytestmark = pytest.mark.django_db

EXPIRY = DELIVERY_TIME + timedelta(days=60)
BOX_ATTEMPTS = BoxSettings(parent_folder_id="0").max_attempts


def actions(export_request) -> list[str]:
    return list(export_request.events.values_list("action", flat=True))


def event(export_request, action):
    return export_request.events.get(action=action)


def steps(evidence: dict) -> list[tuple[str, str]]:
    return [(step["action"], step["outcome"]) for step in evidence["steps"]]


def test_at_expiry_access_ends_every_copy_is_deleted_and_the_proof_is_recorded(
    clock, django_capture_on_commit_callbacks
):
    # The worker died before cleaning up: staging (with the archive) is still there.
    job = uploading_job(part_sizes=(1500, 900))
    export_request = delivered(job, django_capture_on_commit_callbacks, clean_up=False)
    folder = Path(settings.EXPORT_LOCAL_DELIVERY_DIR) / export_request.reference
    assert folder.is_dir() and Path(job.staging_dir).is_dir()

    clock.move_to(EXPIRY - timedelta(minutes=1))
    tasks.run_delivery_lifecycle.delay()
    export_request.refresh_from_db()
    assert export_request.status == Status.DELIVERED and folder.is_dir()

    clock.move_to(EXPIRY + timedelta(minutes=5))
    tasks.run_delivery_lifecycle.delay()

    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED
    assert export_request.deleted_at == EXPIRY + timedelta(minutes=5)
    assert not folder.exists() and not Path(job.staging_dir).exists()
    assert ExportJob.objects.get(pk=job.pk).stage == Stage.DELETED
    assert actions(export_request)[-3:] == [
        "deletion.started",
        "deletion.completed",
        "delivery.expired",
    ]
    started = event(export_request, "deletion.started").details
    assert (started["backend"], started["location_id"]) == ("local", str(folder))
    evidence = event(export_request, "deletion.completed").details
    assert steps(evidence) == [
        ("delete_folder", "done"),
        ("confirm_absent", "confirmed_absent"),
        ("delete_local_copy", "done"),  # staging, with the archive in it
        ("confirm_local_copy_absent", "confirmed_absent"),
        ("delete_local_copy", "already_absent"),  # part 1, gone with staging
        ("confirm_local_copy_absent", "confirmed_absent"),
        ("delete_local_copy", "already_absent"),
        ("confirm_local_copy_absent", "confirmed_absent"),
    ]
    assert evidence["location_id"] == str(folder)
    assert event(export_request, "delivery.expired").details == {"early": False}

    tasks.run_delivery_lifecycle.delay()  # the next pass finds nothing to do
    assert actions(export_request).count("deletion.started") == 1


def test_box_delivery_through_the_pipeline_then_deletion_at_expiry(
    clock, fake_box, django_capture_on_commit_callbacks
):
    job = uploading_job(part_sizes=(1500, 5000))  # one plain upload, one chunked session
    export_request = delivered(job, django_capture_on_commit_callbacks)
    job.refresh_from_db()

    folder = fake_box.folder_named(export_request.reference, settings.BOX_PARENT_FOLDER_ID)
    assert sorted(f.name for f in fake_box.live_files(folder.id)) == [
        "export.part1.zip",
        "export.part2.zip",
    ]
    [collaboration] = fake_box.collaborations.values()
    assert (collaboration.folder_id, collaboration.login, collaboration.role) == (
        folder.id,
        export_request.poc_email,
        "viewer",
    )
    assert folder.shared_link["is_password_enabled"]
    assert folder.shared_link_password == job.shared_link_password
    assert job.shared_link_password not in ("", job.archive_password)
    granted = event(export_request, "delivery.access_granted").details
    assert granted["collaboration_id"] == collaboration.id
    assert granted["shared_link_url"] == folder.shared_link["url"]
    assert granted["shared_link_password_protected"] is True
    assert granted["expires_at"] == EXPIRY.isoformat()
    assert not Path(job.staging_dir).exists(), "staging is removed after delivery"

    clock.move_to(EXPIRY + timedelta(hours=1))
    tasks.run_delivery_lifecycle.delay()

    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED
    assert folder.id not in fake_box.folders, "deleted and purged from the trash"
    assert fake_box.trashed_ids() == set()
    assert fake_box.files == {} and fake_box.collaborations == {}
    evidence = event(export_request, "deletion.completed").details
    assert evidence["backend"] == "box" and evidence["location_id"] == folder.id
    assert [(s["action"], s["outcome"], s["status_code"]) for s in evidence["steps"][:5]] == [
        ("revoke_collaboration", "done", 204),
        ("delete_folder", "done", 204),
        ("purge_folder_from_trash", "done", 204),
        ("confirm_folder_absent", "confirmed_absent", 404),
        ("confirm_trash_purged", "confirmed_absent", 404),
    ]
    assert fake_box.count_requests("DELETE", rf"/2.0/collaborations/{collaboration.id}$") == 1


def test_a_failing_box_deletion_retries_alerts_the_admins_and_the_request_stays_delivered(
    clock, fake_box, django_capture_on_commit_callbacks
):
    admins = [admin(), admin()]
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)
    folder = fake_box.folder_named(export_request.reference, settings.BOX_PARENT_FOLDER_ID)
    # Box fails every call of every attempt of the first pass: its client tries each call
    # BOX_ATTEMPTS times, the task runs 1 + EXPORT_TASK_MAX_RETRIES times.
    task_runs = settings.EXPORT_TASK_MAX_RETRIES + 1
    failures = task_runs * BOX_ATTEMPTS
    delete_folder = rf"^/2.0/folders/{folder.id}$"
    fake_box.inject_fault("DELETE", delete_folder, 500, times=failures, retry_after="0")
    mail.outbox.clear()

    clock.move_to(EXPIRY + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_delivery_lifecycle.delay()

    export_request.refresh_from_db()
    assert export_request.status == Status.DELIVERED and export_request.deleted_at is None
    assert actions(export_request).count("deletion.started") == task_runs, "the task retried"
    assert fake_box.count_requests("DELETE", delete_folder) == failures
    assert not export_request.events.filter(action="deletion.completed").exists()
    failure = event(export_request, "deletion.failed")
    assert failure.note.startswith(f"{export_request.reference}: delete folder: Box answered 500")
    [alert] = delivered_mail()
    assert sorted(alert.to) == sorted(user.email for user in admins)
    assert export_request.reference in alert.subject
    assert "Box answered 500" in alert.body
    assert fake_box.collaborations == {}, "the contact's access was removed all the same"
    assert folder.id in fake_box.folders and not folder.trashed

    # Box has recovered: the next pass finishes the deletion.
    clock.move_to(EXPIRY + timedelta(hours=2))
    tasks.run_delivery_lifecycle.delay()

    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED
    assert folder.id not in fake_box.folders
    evidence = event(export_request, "deletion.completed").details
    assert steps(evidence)[0] == ("revoke_collaboration", "already_absent")


def test_a_deletion_that_keeps_failing_alerts_the_admins_once_a_day_not_every_pass(
    clock, settings, tmp_path, django_capture_on_commit_callbacks
):
    admin()
    export_request = delivered(uploading_job(), django_capture_on_commit_callbacks)
    delivery_root = settings.EXPORT_LOCAL_DELIVERY_DIR
    # Misconfigured: the receipt's folder is not under the delivery root any more.
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "elsewhere"
    mail.outbox.clear()

    def failing_pass(hours_after_expiry: int) -> int:
        clock.move_to(EXPIRY + timedelta(hours=hours_after_expiry))
        with django_capture_on_commit_callbacks(execute=True):
            tasks.run_delivery_lifecycle.delay()
        return len(delivered_mail())

    assert [failing_pass(hours) for hours in (1, 2, 3, 26)] == [1, 1, 1, 2]
    failures = export_request.events.filter(action="deletion.failed")
    assert [e.details["admins_alerted"] for e in failures] == [True, False, False, True]
    assert "the receipt is not for this delivery root" in failures.first().note
    export_request.refresh_from_db()
    assert export_request.status == Status.DELIVERED
    assert (Path(delivery_root) / export_request.reference).is_dir()

    settings.EXPORT_LOCAL_DELIVERY_DIR = delivery_root
    clock.move_to(EXPIRY + timedelta(hours=27))
    tasks.run_delivery_lifecycle.delay()
    export_request.refresh_from_db()
    assert export_request.status == Status.EXPIRED
