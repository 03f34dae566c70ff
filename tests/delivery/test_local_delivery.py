"""The local-folder backend: copies verified by SHA-256, owner-only, deleted with proof."""

from __future__ import annotations

import json
import stat
import tracemalloc
from datetime import UTC, datetime

import pytest

from exports.delivery.base import DeletionEvidence, DeliveryError, DeliveryReceipt
from exports.delivery.local import LocalFolderBackend

EXPIRES_AT = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
POC = "poc@practice.example"


def deliver(backend, parts, ref="EXP-000123", **kwargs):
    return backend.deliver(ref, parts, recipient_email=POC, expires_at=EXPIRES_AT, **kwargs)


def test_it_copies_every_part_into_an_owner_only_folder_named_by_the_request(tmp_path, make_part):
    parts = [make_part("Practice.part1-of-2.zip", 5000), make_part("Practice.part2-of-2.zip", 300)]
    backend = LocalFolderBackend(tmp_path / "deliveries")

    receipt = deliver(backend, parts)

    folder = tmp_path / "deliveries" / "EXP-000123"
    assert receipt.location_id == str(folder) == receipt.access.local_path
    assert sorted(p.name for p in folder.iterdir()) == [p.path.name for p in parts]
    for part in parts:
        assert (folder / part.path.name).read_bytes() == part.path.read_bytes()
        assert stat.S_IMODE((folder / part.path.name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [(f.name, f.size, f.sha256) for f in receipt.files] == [
        (p.path.name, p.bytes, p.sha256) for p in parts
    ]
    assert backend.verify(receipt).ok


def test_the_receipt_and_evidence_survive_a_json_round_trip(tmp_path, make_part):
    backend = LocalFolderBackend(tmp_path / "deliveries")
    receipt = deliver(backend, [make_part("a.zip", 10)])
    evidence = backend.revoke_and_delete(receipt)

    assert DeliveryReceipt.from_dict(json.loads(json.dumps(receipt.to_dict()))) == receipt
    assert DeletionEvidence.from_dict(json.loads(json.dumps(evidence.to_dict()))) == evidence


def test_delivering_again_keeps_good_copies_and_replaces_stale_ones(tmp_path, make_part):
    backend = LocalFolderBackend(tmp_path / "deliveries")
    first, second = make_part("a.zip", 100), make_part("b.zip", 100)
    deliver(backend, [first, second])
    folder = tmp_path / "deliveries" / "EXP-000123"
    (folder / "b.zip").write_bytes(b"corrupted")
    (folder / ".partial-c.zip").write_bytes(b"left by a crash")
    inode_of_good_copy = (folder / "a.zip").stat().st_ino

    receipt = deliver(backend, [first, second])

    assert (folder / "a.zip").stat().st_ino == inode_of_good_copy
    assert (folder / "b.zip").read_bytes() == second.path.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["a.zip", "b.zip"]
    assert backend.verify(receipt).ok


def test_a_part_whose_bytes_do_not_match_its_sha256_is_refused(tmp_path, make_part):
    part = make_part("a.zip", 100)
    part.path.write_bytes(b"x" * 100)  # changed after the archive step hashed it
    backend = LocalFolderBackend(tmp_path / "deliveries")

    with pytest.raises(DeliveryError, match=r"EXP-000123 part 1 of 1: .*SHA-256") as caught:
        deliver(backend, [part])

    assert "a.zip" not in str(caught.value)
    assert list((tmp_path / "deliveries" / "EXP-000123").iterdir()) == []


def test_progress_reports_bytes_over_all_parts(tmp_path, make_part):
    reports = []
    deliver(
        LocalFolderBackend(tmp_path / "d"),
        [make_part("a.zip", 30), make_part("b.zip", 70)],
        progress=lambda done, total: reports.append((done, total)),
    )
    # Each count comes again while its copy is read back and checked: a keep-alive.
    assert reports == [(0, 100), (30, 100), (30, 100), (100, 100), (100, 100)]


def test_a_big_part_reports_progress_chunk_by_chunk_while_copied_and_checked(
    tmp_path, make_part, monkeypatch
):
    """The pipeline's heartbeat rides on these reports: a part that takes minutes to copy
    must not look like a dead worker."""
    monkeypatch.setattr("exports.delivery.local._COPY_BUFFER", 1000)
    reports = []
    deliver(
        LocalFolderBackend(tmp_path / "d"),
        [make_part("big.zip", 3000)],
        progress=lambda done, total: reports.append((done, total)),
    )
    copying = [(0, 3000), (1000, 3000), (2000, 3000), (3000, 3000)]
    reading_back = [(3000, 3000)] * 3
    assert reports == copying + reading_back


def test_a_part_already_delivered_reports_progress_while_it_is_checked(
    tmp_path, make_part, monkeypatch
):
    monkeypatch.setattr("exports.delivery.local._COPY_BUFFER", 1000)
    backend, part = LocalFolderBackend(tmp_path / "d"), make_part("big.zip", 3000)
    deliver(backend, [part])
    reports = []

    deliver(backend, [part], progress=lambda done, total: reports.append((done, total)))

    assert reports == [(0, 3000)] * 4 + [(3000, 3000)]


def test_verify_notices_a_missing_or_changed_file(tmp_path, make_part):
    backend = LocalFolderBackend(tmp_path / "deliveries")
    receipt = deliver(backend, [make_part("a.zip", 10), make_part("b.zip", 10)])
    folder = tmp_path / "deliveries" / "EXP-000123"
    (folder / "a.zip").unlink()
    (folder / "b.zip").write_bytes(b"0123456789")

    assert backend.verify(receipt).problems == ("file 1 is missing", "file 2 has changed")


def test_revoke_and_delete_removes_the_folder_and_proves_it_twice_over(tmp_path, make_part):
    backend = LocalFolderBackend(tmp_path / "deliveries")
    receipt = deliver(backend, [make_part("a.zip", 10)])

    evidence = backend.revoke_and_delete(receipt)
    again = backend.revoke_and_delete(receipt)

    assert not (tmp_path / "deliveries" / "EXP-000123").exists()
    assert [(s.action, s.outcome) for s in evidence.steps] == [
        ("delete_folder", "done"),
        ("confirm_absent", "confirmed_absent"),
    ]
    assert not evidence.already_deleted
    assert [(s.action, s.outcome) for s in again.steps] == [
        ("delete_folder", "already_absent"),
        ("confirm_absent", "confirmed_absent"),
    ]
    assert again.already_deleted


@pytest.mark.parametrize("ref", ["", "../EXP-1", "EXP/1", "Smith_John_1970-01-01" * 4, ".hidden"])
def test_it_refuses_a_request_ref_that_is_not_a_plain_folder_name(tmp_path, make_part, ref):
    with pytest.raises(DeliveryError, match="request reference"):
        deliver(LocalFolderBackend(tmp_path), [make_part("a.zip", 1)], ref=ref)


def test_it_refuses_an_expiry_without_a_timezone(tmp_path, make_part):
    backend = LocalFolderBackend(tmp_path)
    with pytest.raises(DeliveryError, match="timezone"):
        backend.deliver(
            "EXP-1", [make_part("a.zip", 1)], recipient_email=POC, expires_at=datetime(2031, 1, 1)
        )


def test_it_takes_the_archive_steps_parts_as_they_come(tmp_path, make_part):
    from exports.archive import ArchivePart

    part = make_part("a.zip", 10)
    archive_part = ArchivePart(
        path=part.path,
        bytes=part.bytes,
        sha256=part.sha256,
        sha1=part.sha1,
        patient_folders=3,
        number=1,
        of=1,
    )

    receipt = deliver(LocalFolderBackend(tmp_path / "deliveries"), [archive_part])

    assert receipt.files[0].sha256 == part.sha256


def test_copying_a_large_part_keeps_memory_flat(tmp_path, make_part):
    part = make_part("big.zip", 24 * 1024 * 1024)
    backend = LocalFolderBackend(tmp_path / "deliveries")

    tracemalloc.start()
    try:
        deliver(backend, [part])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 4 * 1024 * 1024
