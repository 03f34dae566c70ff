"""The Box backend, driving the real ``box_sdk_gen`` client against the fake Box server."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from box_sdk_gen.networking.fetch_response import FetchResponse
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from exports.delivery.base import (
    DeletionEvidence,
    DeliveryError,
    DeliveryReceipt,
    TransientDeliveryError,
)
from exports.delivery.box import BoxBackend, BoxSettings, CappedRetryStrategy, build_box_client

# the fake Box cuts sessions into 1 KiB chunks; parts over 2 KiB go up in chunks (conftest)
PART_SIZE = 1024
CHUNKED_THRESHOLD = 2048
EXPIRES_AT = datetime(2031, 3, 1, 12, 0, 30, 123456, tzinfo=UTC)
POC = "Pat.Contact@practice.example"
LINK_PASSWORD = "7kq2m-x9w4p-hc3ve"
SESSION_PARTS = r"/upload/2.0/files/upload_sessions/\w+$"


def deliver(backend: BoxBackend, parts, ref="EXP-000123", **kwargs):
    return backend.deliver(ref, parts, recipient_email=POC, expires_at=EXPIRES_AT, **kwargs)


def only_folder(fake_box, parent):
    (folder,) = [f for f in fake_box.folders.values() if f.parent_id == parent and not f.trashed]
    return folder


def stored_bytes(fake_box, folder_id):
    return {f.name: f.content for f in fake_box.live_files(folder_id)}


def test_a_small_part_is_uploaded_in_one_call_into_the_request_folder(
    fake_box, delivery_parent, make_box_backend, make_part
):
    part = make_part("Practice_Data_Export_2031-01-01.zip", 1500)

    receipt = deliver(make_box_backend(), [part])

    folder = only_folder(fake_box, delivery_parent)
    assert folder.name == "EXP-000123"
    assert receipt.location_id == folder.id
    assert stored_bytes(fake_box, folder.id) == {part.path.name: part.path.read_bytes()}
    assert fake_box.count_requests("POST", r"/upload/2.0/files/content$") == 1
    assert fake_box.count_requests("POST", r"/upload_sessions$") == 0
    (delivered,) = receipt.files
    assert (delivered.name, delivered.size, delivered.sha1, delivered.sha256) == (
        part.path.name,
        part.bytes,
        part.sha1,
        part.sha256,
    )


def test_a_part_over_the_threshold_goes_up_in_chunks_and_arrives_byte_for_byte(
    fake_box, delivery_parent, make_box_backend, make_part
):
    part = make_part("big.zip", CHUNKED_THRESHOLD + 1)  # 3 chunks of at most 1 KiB

    receipt = deliver(make_box_backend(), [part])

    folder = only_folder(fake_box, delivery_parent)
    assert stored_bytes(fake_box, folder.id) == {"big.zip": part.path.read_bytes()}
    assert fake_box.count_requests("PUT", SESSION_PARTS) == 3
    assert fake_box.count_requests("POST", r"/commit$") == 1
    assert receipt.files[0].sha1 == part.sha1
    (session,) = fake_box.upload_sessions.values()
    assert sorted(session.parts) == [0, PART_SIZE, 2 * PART_SIZE]


def test_a_wrong_whole_file_digest_is_rejected_and_nothing_is_stored(
    fake_box, delivery_parent, make_box_backend, make_part
):
    part = make_part("big.zip", CHUNKED_THRESHOLD + 500)
    lying = type(part)(path=part.path, bytes=part.bytes, sha256=part.sha256, sha1="0" * 40)

    with pytest.raises(DeliveryError, match=r"part 1 of 1: committing .* 400 bad_digest"):
        deliver(make_box_backend(), [lying])

    assert fake_box.live_files(only_folder(fake_box, delivery_parent).id) == []


def test_after_a_failure_mid_session_the_next_run_uploads_only_the_missing_chunks(
    fake_box, delivery_parent, make_box_backend, make_part
):
    part = make_part("big.zip", 5 * PART_SIZE)
    # the third chunk fails on every attempt the SDK makes (3), so delivery stops there
    fake_box.inject_fault("PUT", SESSION_PARTS, 500, times=3, after=2)

    with pytest.raises(TransientDeliveryError, match=r"part 1 of 1: uploading .* 500"):
        deliver(make_box_backend(), [part])
    chunk_puts_before = fake_box.count_requests("PUT", SESSION_PARTS)

    deliver(make_box_backend(), [part])  # a new process, resuming from the session store

    assert fake_box.count_requests("PUT", SESSION_PARTS) - chunk_puts_before == 3
    assert fake_box.count_requests("POST", r"/upload_sessions$") == 1
    folder = only_folder(fake_box, delivery_parent)
    assert stored_bytes(fake_box, folder.id) == {"big.zip": part.path.read_bytes()}


def test_an_expired_session_is_replaced_by_a_new_one(
    fake_box, delivery_parent, make_box_backend, make_part
):
    part = make_part("big.zip", 4 * PART_SIZE)
    fake_box.inject_fault("PUT", SESSION_PARTS, 500, times=3, after=1)
    with pytest.raises(TransientDeliveryError):
        deliver(make_box_backend(), [part])
    fake_box.expire_upload_sessions()
    reports = []

    deliver(make_box_backend(), [part], progress=lambda done, total: reports.append(done))

    assert fake_box.count_requests("POST", r"/upload_sessions$") == 2
    folder = only_folder(fake_box, delivery_parent)
    assert stored_bytes(fake_box, folder.id) == {"big.zip": part.path.read_bytes()}
    assert reports[-1] == part.bytes
    assert reports == sorted(reports)


def test_delivering_again_skips_files_already_on_box_with_the_same_sha1(
    fake_box, make_box_backend, make_part
):
    parts = [make_part("a.zip", 100), make_part("b.zip", CHUNKED_THRESHOLD + 10)]
    first = deliver(make_box_backend(), parts)
    uploads = len(fake_box.requests)

    second = deliver(make_box_backend(), parts)

    new_requests = fake_box.requests[uploads:]
    assert not [r for r in new_requests if r[1].startswith("/upload/")]
    assert second.files == first.files
    assert second.access.collaboration_id == first.access.collaboration_id


def test_a_file_left_by_an_earlier_archive_is_replaced_and_purged(
    fake_box, delivery_parent, make_box_backend, make_part, tmp_path
):
    old = make_part("a.zip", 100)
    deliver(make_box_backend(), [old])
    old_id = next(iter(fake_box.files))
    new = make_part("a.zip", 120)  # same name, rebuilt archive

    receipt = deliver(make_box_backend(), [new])

    folder = only_folder(fake_box, delivery_parent)
    assert stored_bytes(fake_box, folder.id) == {"a.zip": new.path.read_bytes()}
    assert old_id not in fake_box.files  # deleted and purged from the trash
    assert receipt.files[0].id != old_id


def test_a_409_on_folder_create_reuses_our_existing_folder(
    fake_box, delivery_parent, make_box_backend, make_part
):
    existing = fake_box.add_folder("exp-000123", delivery_parent)  # Box ignores case

    receipt = deliver(make_box_backend(), [make_part("a.zip", 10)])

    assert receipt.location_id == existing.id
    assert fake_box.count_requests("POST", r"^/2.0/folders$") == 1


def test_a_409_naming_someone_elses_folder_stops_delivery(
    fake_box, delivery_parent, make_box_backend, make_part
):
    stranger = {"type": "user", "id": "777", "name": "Someone", "login": "s@example.com"}
    fake_box.add_folder("EXP-000123", delivery_parent, owner=stranger)

    with pytest.raises(DeliveryError, match="does not own"):
        deliver(make_box_backend(), [make_part("a.zip", 10)])

    assert fake_box.count_requests("POST", r"/files/content$") == 0


def test_a_429_with_retry_after_is_waited_out_and_retried(
    fake_box, delivery_parent, make_box_backend, make_part
):
    fake_box.inject_fault(
        "POST", r"^/2.0/folders$", 429, retry_after="30", code="rate_limit_exceeded"
    )

    receipt = deliver(make_box_backend(), [make_part("a.zip", 10)])

    assert fake_box.count_requests("POST", r"^/2.0/folders$") == 2
    assert receipt.location_id == only_folder(fake_box, delivery_parent).id


def test_500s_are_retried_then_reported_as_a_clear_transient_error(
    fake_box, make_box_backend, make_part
):
    fake_box.inject_fault("POST", r"/files/content$", 500, times=2)
    deliver(make_box_backend(), [make_part("a.zip", 10)], ref="EXP-1")  # two 500s, then 201

    fake_box.inject_fault("POST", r"/files/content$", 500, times=10)
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(make_box_backend(), [make_part("b.zip", 10)], ref="EXP-2")

    assert str(caught.value).startswith("EXP-2 part 1 of 1: upload: Box answered 500")
    assert "b.zip" not in str(caught.value)
    assert fake_box.count_requests("POST", r"/files/content$") == 3 + 3


def test_the_recipient_gets_one_viewer_collaboration_however_often_deliver_runs(
    fake_box, make_box_backend, make_part
):
    parts = [make_part("a.zip", 10)]
    first = deliver(make_box_backend(), parts)
    second = deliver(make_box_backend(), parts)

    (collaboration,) = fake_box.collaborations.values()
    assert collaboration.login == POC.lower()
    assert collaboration.role == "viewer"
    assert collaboration.expires_at == "2031-03-01T12:00:30+00:00"
    assert first.access.collaboration_id == second.access.collaboration_id == collaboration.id
    assert first.access.collaboration_role == "viewer"
    assert fake_box.count_requests("POST", r"/collaborations$") == 1


def test_without_collaboration_expiry_enabled_access_is_granted_without_one(
    fake_box, make_box_backend, make_part
):
    fake_box.allow_collaboration_expiry = False

    receipt = deliver(make_box_backend(), [make_part("a.zip", 10)])

    (collaboration,) = fake_box.collaborations.values()
    assert collaboration.expires_at is None
    assert receipt.access.collaboration_expires_at is None


def test_a_shared_link_gets_the_password_and_ends_at_the_expiry(
    fake_box, delivery_parent, make_box_backend, make_part
):
    receipt = deliver(
        make_box_backend(), [make_part("a.zip", 10)], shared_link_password=LINK_PASSWORD
    )

    folder = only_folder(fake_box, delivery_parent)
    assert folder.shared_link_password == LINK_PASSWORD
    assert folder.shared_link["access"] == "open"
    assert receipt.access.shared_link_url == folder.shared_link["url"]
    assert receipt.access.shared_link_password_protected
    assert receipt.access.shared_link_expires_at == EXPIRES_AT.replace(microsecond=0)
    assert LINK_PASSWORD not in json.dumps(receipt.to_dict())


def test_when_box_refuses_the_link_expiry_the_refusal_is_recorded_and_access_stays(
    fake_box, delivery_parent, make_box_backend, make_part
):
    fake_box.allow_shared_link_expiry = False  # a free account

    receipt = deliver(
        make_box_backend(), [make_part("a.zip", 10)], shared_link_password=LINK_PASSWORD
    )

    assert receipt.access.shared_link_url is None
    assert receipt.access.shared_link_refusal == "403 invalid_parameter"
    assert receipt.access.collaboration_id in fake_box.collaborations


def test_revoke_and_delete_removes_access_folder_and_trash_with_evidence(
    fake_box, delivery_parent, make_box_backend, make_part
):
    backend = make_box_backend()
    receipt = deliver(
        backend,
        [make_part("a.zip", 10), make_part("b.zip", CHUNKED_THRESHOLD + 1)],
        shared_link_password=LINK_PASSWORD,
    )
    stored = DeliveryReceipt.from_dict(json.loads(json.dumps(receipt.to_dict())))

    evidence = make_box_backend().revoke_and_delete(stored)

    assert fake_box.collaborations == {}
    assert receipt.location_id not in fake_box.folders
    assert fake_box.files == {}
    assert fake_box.trashed_ids() == set()
    assert [(s.action, s.outcome, s.status_code) for s in evidence.steps] == [
        ("revoke_collaboration", "done", 204),
        ("delete_folder", "done", 204),
        ("purge_folder_from_trash", "done", 204),
        ("confirm_folder_absent", "confirmed_absent", 404),
        ("confirm_trash_purged", "confirmed_absent", 404),
    ]
    assert not evidence.already_deleted
    assert DeletionEvidence.from_dict(json.loads(json.dumps(evidence.to_dict()))) == evidence
    assert not backend.verify(receipt).ok


def test_revoke_and_delete_twice_is_fine_and_says_it_was_already_done(
    fake_box, make_box_backend, make_part
):
    backend = make_box_backend()
    receipt = deliver(backend, [make_part("a.zip", 10)])
    backend.revoke_and_delete(receipt)

    again = backend.revoke_and_delete(receipt)

    assert again.already_deleted
    assert [(s.outcome, s.status_code) for s in again.steps] == [
        ("already_absent", 404),
        ("already_absent", 404),
        ("already_absent", 404),
        ("confirmed_absent", 404),
        ("confirmed_absent", 404),
    ]


def test_verify_reports_a_file_changed_on_box(
    fake_box, delivery_parent, make_box_backend, make_part
):
    backend = make_box_backend()
    receipt = deliver(backend, [make_part("a.zip", 10)])
    assert backend.verify(receipt).ok

    next(iter(fake_box.files.values())).content = b"tampered"

    assert backend.verify(receipt).problems == (f"file 1 ({receipt.files[0].id}) has changed",)


def test_a_jwt_app_config_authenticates_and_delivers(
    fake_box, box_settings, delivery_parent, make_part
):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake_box.jwt_public_keys["key-1"] = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = {
        "boxAppSettings": {
            "clientID": "jwt-client",
            "clientSecret": "jwt-secret",
            "appAuth": {
                "publicKeyID": "key-1",
                "passphrase": "key-passphrase",
                "privateKey": key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"key-passphrase"),
                ).decode(),
            },
        },
        "enterpriseID": "900001",
    }
    settings = dataclasses.replace(
        box_settings, client_id="", client_secret="", jwt_config_json=json.dumps(config)
    )

    deliver(BoxBackend.from_settings(settings), [make_part("a.zip", 10)])

    assert fake_box.tokens_issued == 1
    assert len(fake_box.live_files(only_folder(fake_box, delivery_parent).id)) == 1


def test_building_a_client_without_credentials_is_a_clear_error():
    with pytest.raises(DeliveryError, match="CCG credentials or a JWT config"):
        build_box_client(BoxSettings(parent_folder_id="0"))


def test_the_wait_before_a_retry_follows_retry_after_up_to_the_cap():
    strategy = CappedRetryStrategy(max_wait=60, max_attempts=5)

    def wait_for(retry_after: str) -> float:
        response = FetchResponse(status=429, headers={"Retry-After": retry_after})
        return strategy.retry_after(None, response, 1)

    assert wait_for("7") == 7
    assert wait_for("600") == 60
