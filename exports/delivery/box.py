"""Delivery through Box with the official SDK (``boxsdk`` 10.x, imported as ``box_sdk_gen``).

One folder per request, named by the request reference, under a configured parent folder.
Parts up to ``chunked_upload_threshold`` go up in one multipart call (checked with their SHA-1);
larger parts go through a chunked upload session: parts of the size Box chooses, each with its
SHA-1 digest, then a commit carrying the whole file's SHA-1, which Box checks. The session is
written to an ``UploadSessionStore`` first, so after a crash the next ``deliver`` lists the
parts Box already holds and uploads only the rest; an expired session (404) starts over.

Access: a viewer collaboration on the folder for the point of contact (viewers can download)
and, when a password is given, an open shared link with that password that ends at the expiry.
Box refuses link expiry on free accounts and collaboration expiry unless the enterprise enabled
it; the refusal is recorded and delivery goes on, since our own scheduled deletion is what ends
access (Box's expiry is only a backstop).

Retries: the SDK's ``BoxRetryStrategy`` already retries 429 (waiting ``Retry-After``), 5xx,
202 with ``Retry-After``, 401 (after a token refresh) and connection errors, rewinding seekable
upload streams. We cap its wait so a throttled worker gives up and is retried by the task
layer rather than sleeping for minutes, and translate what is left into ``DeliveryError`` /
``TransientDeliveryError`` naming only the request ref, the part number, the HTTP status, Box's
error code and its request id.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from box_sdk_gen import (
    AddShareLinkToFolderSharedLink,
    AddShareLinkToFolderSharedLinkAccessField,
    BaseUrls,
    BoxAPIError,
    BoxCCGAuth,
    BoxClient,
    BoxJWTAuth,
    BoxRetryStrategy,
    BoxSDKError,
    CCGConfig,
    Collaboration,
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
    CreateFolderParent,
    FetchOptions,
    JWTConfig,
    NetworkSession,
    ResponseFormat,
    TimeoutConfig,
    UploadFileAttributes,
    UploadFileAttributesParentField,
    UploadPart,
)

from .base import (
    AccessGrant,
    ArchiveFile,
    DeletionEvidence,
    DeletionStep,
    DeliveredFile,
    DeliveryBackend,
    DeliveryError,
    DeliveryReceipt,
    ProgressCallback,
    ProgressTracker,
    TransientDeliveryError,
    Verification,
    check_delivery_request,
    part_label,
    utc_now,
)
from .resume import UploadSessionStore

logger = logging.getLogger(__name__)

#: Box recommends one-call uploads up to 50 MB and accepts sessions only from 20 MB
DEFAULT_CHUNKED_UPLOAD_THRESHOLD = 50 * 1024 * 1024
_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class BoxSettings:
    """How to reach Box and where deliveries go. Give CCG credentials (client id and secret
    with an enterprise id, to act as the app's service account, or a user id), or the JSON of
    a JWT app config."""

    parent_folder_id: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    enterprise_id: str | None = None
    user_id: str | None = None
    jwt_config_json: str | None = field(default=None, repr=False)
    api_url: str = "https://api.box.com"
    upload_url: str = "https://upload.box.com/api"
    oauth_url: str = "https://account.box.com/api/oauth2"
    chunked_upload_threshold: int = DEFAULT_CHUNKED_UPLOAD_THRESHOLD
    max_attempts: int = 5
    retry_base_interval: float = 1.0
    #: the longest one wait between attempts may last, whatever Retry-After asks for
    max_retry_wait: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


class CappedRetryStrategy(BoxRetryStrategy):
    """Box's retry strategy with every wait capped at ``max_wait`` seconds."""

    def __init__(self, *, max_wait: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wait = max_wait

    def retry_after(self, fetch_options, fetch_response, attempt_number: int) -> float:
        wait = super().retry_after(fetch_options, fetch_response, attempt_number)
        return min(wait, self.max_wait)


def build_box_client(settings: BoxSettings) -> BoxClient:
    """An authenticated client (CCG or JWT) with our retry, timeout and base-URL settings."""
    if settings.jwt_config_json:
        auth = BoxJWTAuth(JWTConfig.from_config_json_string(settings.jwt_config_json))
    elif settings.client_id and settings.client_secret:
        if bool(settings.enterprise_id) == bool(settings.user_id):
            raise DeliveryError("Box CCG needs exactly one of an enterprise id or a user id")
        auth = BoxCCGAuth(
            CCGConfig(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                enterprise_id=settings.enterprise_id,
                user_id=settings.user_id,
            )
        )
    else:
        raise DeliveryError("Box needs CCG credentials or a JWT config")
    session = NetworkSession(
        base_urls=BaseUrls(
            base_url=settings.api_url,
            upload_url=settings.upload_url,
            oauth_2_url=settings.oauth_url,
        ),
        retry_strategy=CappedRetryStrategy(
            max_wait=settings.max_retry_wait,
            max_attempts=settings.max_attempts,
            retry_base_interval=settings.retry_base_interval,
        ),
        timeout_config=TimeoutConfig(
            connection_timeout_ms=int(settings.connect_timeout * 1000),
            read_timeout_ms=int(settings.read_timeout * 1000),
        ),
    )
    return BoxClient(auth, network_session=session)


@dataclass(frozen=True, slots=True)
class _BoxFile:
    id: str
    name: str
    size: int
    sha1: str


class BoxBackend(DeliveryBackend):
    """Delivers into ``<parent folder>/<request_ref>/`` on Box and shares it with the recipient.

    ``session_store`` makes chunked uploads resumable across processes; without one, a failed
    large upload starts a new session next time (the old one simply expires on Box).
    """

    kind = "box"

    def __init__(
        self,
        client: BoxClient,
        *,
        parent_folder_id: str,
        chunked_upload_threshold: int = DEFAULT_CHUNKED_UPLOAD_THRESHOLD,
        session_store: UploadSessionStore | None = None,
        notify_recipient: bool = True,
    ) -> None:
        self._client = client
        self._parent_folder_id = parent_folder_id
        self._chunked_upload_threshold = chunked_upload_threshold
        self._sessions = session_store
        self._notify_recipient = notify_recipient
        self._own_user_id: str | None = None

    @classmethod
    def from_settings(
        cls, settings: BoxSettings, session_store: UploadSessionStore | None = None
    ) -> BoxBackend:
        return cls(
            build_box_client(settings),
            parent_folder_id=settings.parent_folder_id,
            chunked_upload_threshold=settings.chunked_upload_threshold,
            session_store=session_store,
        )

    # -- deliver ---------------------------------------------------------------------------

    def deliver(
        self,
        request_ref: str,
        parts: Sequence[ArchiveFile],
        *,
        recipient_email: str,
        expires_at: datetime,
        progress: ProgressCallback | None = None,
        shared_link_password: str | None = None,
    ) -> DeliveryReceipt:
        check_delivery_request(request_ref, parts, expires_at)
        expires_at = expires_at.astimezone(UTC).replace(microsecond=0)
        folder_id = self._ensure_folder(request_ref)
        present = {file.name.casefold(): file for file in self._files_in(folder_id, request_ref)}
        tracker = ProgressTracker(parts, progress)
        delivered = []
        for index, part in enumerate(parts):
            label = f"{request_ref} {part_label(index, parts)}"
            file = present.pop(part.path.name.casefold(), None)
            if file is not None and (file.sha1, file.size) == (part.sha1, part.bytes):
                logger.info("%s is already on Box as file %s", label, file.id)
                self._forget_session(folder_id, part)
                tracker.advance(part.bytes)
            else:
                if file is not None:
                    logger.info("%s: replacing file %s, an earlier archive", label, file.id)
                    self._delete_file(file.id, label)
                file = self._upload(folder_id, part, tracker, label)
            delivered.append(
                DeliveredFile(
                    id=file.id, name=file.name, size=file.size, sha1=file.sha1, sha256=part.sha256
                )
            )
        for leftover in present.values():
            logger.info("%s: removing file %s, not part of this archive", request_ref, leftover.id)
            self._delete_file(leftover.id, request_ref)
        access = self._grant_access(
            request_ref, folder_id, recipient_email, expires_at, shared_link_password
        )
        return DeliveryReceipt(
            backend=self.kind,
            request_ref=request_ref,
            location_id=folder_id,
            files=tuple(delivered),
            access=access,
            delivered_at=utc_now(),
            expires_at=expires_at,
        )

    def _ensure_folder(self, request_ref: str) -> str:
        """The request's folder: created, or the existing one when a 409 names a folder of ours."""
        what = f"{request_ref}: creating the delivery folder"
        with _box_errors(what):
            try:
                folder = self._client.folders.create_folder(
                    request_ref, CreateFolderParent(id=self._parent_folder_id), fields=["id"]
                )
                logger.info("%s: created Box folder %s", request_ref, folder.id)
                return folder.id
            except BoxAPIError as error:
                if error.response_info.status_code != 409:
                    raise
                conflict = _first_conflict(error)
            if conflict.get("type") != "folder":
                raise DeliveryError(f"{what}: the name is taken by a file")
            folder = self._client.folders.get_folder_by_id(
                conflict["id"], fields=["id", "owned_by", "parent"]
            )
            own_user_id = self._current_user_id()
        owner_id = folder.owned_by.id if folder.owned_by else None
        parent_id = folder.parent.id if folder.parent else None
        if owner_id != own_user_id or parent_id != self._parent_folder_id:
            raise DeliveryError(f"{what}: the name is taken by a folder this service does not own")
        logger.info("%s: reusing Box folder %s", request_ref, folder.id)
        return folder.id

    def _current_user_id(self) -> str:
        if self._own_user_id is None:
            self._own_user_id = self._client.users.get_user_me(fields=["id"]).id
        return self._own_user_id

    def _files_in(self, folder_id: str, what: str) -> Iterator[_BoxFile]:
        offset = 0
        while True:
            with _box_errors(f"{what}: listing the delivery folder"):
                page = self._client.folders.get_folder_items(
                    folder_id,
                    fields=["id", "type", "name", "size", "sha1"],
                    offset=offset,
                    limit=_PAGE_SIZE,
                )
            entries = page.entries or []
            for entry in entries:
                if entry.type == "file":
                    yield _BoxFile(id=entry.id, name=entry.name, size=entry.size, sha1=entry.sha_1)
            offset += len(entries)
            if not entries or offset >= (page.total_count or 0):
                return

    def _upload(
        self, folder_id: str, part: ArchiveFile, tracker: ProgressTracker, label: str
    ) -> _BoxFile:
        if part.bytes > self._chunked_upload_threshold:
            file = self._upload_in_chunks(folder_id, part, tracker, label)
        else:
            file = self._upload_in_one_call(folder_id, part, label)
            tracker.advance(part.bytes)
        if (file.sha1, file.size) != (part.sha1, part.bytes):
            raise DeliveryError(f"{label}: Box holds file {file.id} with a different SHA-1")
        logger.info("%s: uploaded as Box file %s", label, file.id)
        return file

    def _upload_in_one_call(self, folder_id: str, part: ArchiveFile, label: str) -> _BoxFile:
        attributes = UploadFileAttributes(
            name=part.path.name, parent=UploadFileAttributesParentField(id=folder_id)
        )
        with _box_errors(f"{label}: upload"), open(part.path, "rb") as stream:
            try:
                uploaded = self._client.uploads.upload_file(
                    attributes, stream, content_md_5=part.sha1
                ).entries[0]
            except BoxAPIError as error:
                return _same_file_in_conflict(error, part)
        return _BoxFile(uploaded.id, uploaded.name, uploaded.size, uploaded.sha_1)

    def _upload_in_chunks(
        self, folder_id: str, part: ArchiveFile, tracker: ProgressTracker, label: str
    ) -> _BoxFile:
        """Upload through a session, resuming a stored one; restart once if it has expired."""
        progress_before = tracker.done
        for _attempt in range(2):
            session = self._open_session(folder_id, part, label)
            if isinstance(session, _BoxFile):
                return session
            try:
                return self._finish_session(session, folder_id, part, tracker, label)
            except _SessionExpired:
                self._forget_session(folder_id, part)
                tracker.rewind_to(progress_before)
                logger.info("%s: the upload session expired", label)
        raise TransientDeliveryError(f"{label}: a new upload session expired too")

    def _open_session(
        self, folder_id: str, part: ArchiveFile, label: str
    ) -> dict[str, Any] | _BoxFile:
        """The stored session, or a new one; or the file itself when Box already holds it (a
        commit whose answer was lost)."""
        key = _session_key(folder_id, part)
        stored = self._sessions.load(key) if self._sessions else None
        if stored is not None:
            return stored
        with _box_errors(f"{label}: starting an upload session"):
            try:
                created = self._client.chunked_uploads.create_file_upload_session(
                    folder_id, part.bytes, part.path.name
                )
            except BoxAPIError as error:
                return _same_file_in_conflict(error, part)
        session = {
            "id": created.id,
            "part_size": created.part_size,
            "total_parts": created.total_parts,
            "upload_part": created.session_endpoints.upload_part,
            "list_parts": created.session_endpoints.list_parts,
            "commit": created.session_endpoints.commit,
        }
        if self._sessions:
            self._sessions.save(key, session)
        logger.info("%s: upload session %s, %d parts", label, created.id, created.total_parts)
        return session

    def _finish_session(
        self,
        session: dict[str, Any],
        folder_id: str,
        part: ArchiveFile,
        tracker: ProgressTracker,
        label: str,
    ) -> _BoxFile:
        chunks = self._client.chunked_uploads
        uploaded = {chunk.offset: chunk for chunk in self._uploaded_chunks(session, label)}
        part_size = session["part_size"]
        with open(part.path, "rb") as stream:
            for offset in range(0, part.bytes, part_size):
                size = min(part_size, part.bytes - offset)
                done = uploaded.get(offset)
                if done is None or done.size != size:
                    stream.seek(offset)
                    data = stream.read(size)
                    digest = hashlib.sha1(data, usedforsecurity=False)
                    with _session_errors(f"{label}: uploading bytes at offset {offset}"):
                        done = chunks.upload_file_part_by_url(
                            session["upload_part"],
                            io.BytesIO(data),
                            "sha=" + base64.b64encode(digest.digest()).decode(),
                            f"bytes {offset}-{offset + size - 1}/{part.bytes}",
                        ).part
                    if done.sha_1 != digest.hexdigest() or done.offset != offset:
                        raise DeliveryError(f"{label}: Box acknowledged a different chunk")
                    uploaded[offset] = done
                tracker.advance(size)
        whole_file_digest = "sha=" + base64.b64encode(bytes.fromhex(part.sha1)).decode()
        with _session_errors(f"{label}: committing the upload"):
            committed = chunks.create_file_upload_session_commit_by_url(
                session["commit"],
                [uploaded[offset] for offset in sorted(uploaded)],
                whole_file_digest,
            )
        if committed is None:
            # 202 without Retry-After: Box is still processing parts; the session is kept
            raise TransientDeliveryError(f"{label}: Box is still processing the uploaded chunks")
        self._forget_session(folder_id, part)
        file = committed.entries[0]
        return _BoxFile(file.id, file.name, file.size, file.sha_1)

    def _uploaded_chunks(self, session: dict[str, Any], label: str) -> list[UploadPart]:
        found: list[UploadPart] = []
        while True:
            with _session_errors(f"{label}: listing uploaded chunks"):
                page = self._client.chunked_uploads.get_file_upload_session_parts_by_url(
                    session["list_parts"], offset=len(found), limit=_PAGE_SIZE
                )
            entries = page.entries or []
            found += entries
            if not entries or len(found) >= (page.total_count or 0):
                return found

    def _forget_session(self, folder_id: str, part: ArchiveFile) -> None:
        if self._sessions:
            self._sessions.discard(_session_key(folder_id, part))

    def _delete_file(self, file_id: str, what: str) -> None:
        """Delete a stale file and purge it from the trash (it may hold an older archive)."""
        with _box_errors(f"{what}: removing stale file {file_id}"):
            self._client.files.delete_file_by_id(file_id)
            self._client.trashed_files.delete_trashed_file_by_id(file_id)

    # -- access ----------------------------------------------------------------------------

    def _grant_access(
        self,
        request_ref: str,
        folder_id: str,
        recipient_email: str,
        expires_at: datetime,
        shared_link_password: str | None,
    ) -> AccessGrant:
        collaboration = self._ensure_collaboration(
            request_ref, folder_id, recipient_email, expires_at
        )
        grant = {
            "recipient_email": recipient_email,
            "collaboration_id": collaboration.id,
            "collaboration_role": _enum_value(collaboration.role),
            "collaboration_status": _enum_value(collaboration.status),
            "collaboration_expires_at": _as_datetime(collaboration.expires_at),
        }
        if shared_link_password is not None:
            grant |= self._share_folder(request_ref, folder_id, expires_at, shared_link_password)
        return AccessGrant(**grant)

    def _ensure_collaboration(
        self, request_ref: str, folder_id: str, email: str, expires_at: datetime
    ) -> Collaboration:
        """The recipient's viewer collaboration, created once however often we are called."""
        what = f"{request_ref}: granting the recipient access"
        existing = self._find_collaboration(folder_id, email, what)
        if existing is not None:
            return existing
        with _box_errors(what):
            try:
                return self._create_collaboration(folder_id, email, expires_at)
            except BoxAPIError as error:
                if error.response_info.code == "user_already_collaborator":
                    # an earlier attempt succeeded but its answer was lost
                    found = self._find_collaboration(folder_id, email, what)
                    if found is None:
                        raise
                    return found
                if error.response_info.status_code != 400:
                    raise
            # expiry needs an enterprise setting; our own deletion job ends access anyway
            logger.info("%s: Box refused a collaboration expiry, granting without", request_ref)
            return self._create_collaboration(folder_id, email, None)

    def _create_collaboration(
        self, folder_id: str, email: str, expires_at: datetime | None
    ) -> Collaboration:
        return self._client.user_collaborations.create_collaboration(
            CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=folder_id),
            CreateCollaborationAccessibleBy(
                type=CreateCollaborationAccessibleByTypeField.USER, login=email
            ),
            CreateCollaborationRole.VIEWER,
            expires_at=expires_at,
            notify=self._notify_recipient,
        )

    def _find_collaboration(self, folder_id: str, email: str, what: str) -> Collaboration | None:
        marker = None
        while True:
            with _box_errors(what):
                page = self._client.list_collaborations.get_folder_collaborations(
                    folder_id, limit=_PAGE_SIZE, marker=marker
                )
            for collaboration in page.entries or []:
                login = getattr(collaboration.accessible_by, "login", None)
                invited = collaboration.invite_email
                if email.casefold() in {(login or "").casefold(), (invited or "").casefold()}:
                    return collaboration
            marker = page.next_marker
            if not marker:
                return None

    def _share_folder(
        self, request_ref: str, folder_id: str, expires_at: datetime, password: str
    ) -> dict[str, Any]:
        """A password-protected open link ending at the expiry, or the reason Box refused it."""
        with _box_errors(f"{request_ref}: creating the shared link"):
            try:
                folder = self._client.shared_links_folders.add_share_link_to_folder(
                    folder_id,
                    "shared_link",
                    shared_link=AddShareLinkToFolderSharedLink(
                        access=AddShareLinkToFolderSharedLinkAccessField.OPEN,
                        password=password,
                        unshared_at=expires_at,
                    ),
                )
            except BoxAPIError as error:
                if error.response_info.status_code not in (400, 403):
                    raise
                refusal = f"{error.response_info.status_code} {error.response_info.code}"
                logger.warning("%s: Box refused the shared link (%s)", request_ref, refusal)
                return {"shared_link_refusal": refusal}
        link = folder.shared_link
        return {
            "shared_link_url": link.url,
            "shared_link_expires_at": _as_datetime(link.unshared_at),
            "shared_link_password_protected": bool(link.is_password_enabled),
        }

    # -- verify and delete -----------------------------------------------------------------

    def verify(self, receipt: DeliveryReceipt) -> Verification:
        try:
            files = self._files_in(receipt.location_id, receipt.request_ref)
            present = {file.id: file for file in files}
        except DeliveryError as error:
            return Verification(problems=(str(error),))
        problems = []
        for number, delivered in enumerate(receipt.files, start=1):
            file = present.get(delivered.id)
            if file is None:
                problems.append(f"file {number} ({delivered.id}) is missing")
            elif (file.sha1, file.size) != (delivered.sha1, delivered.size):
                problems.append(f"file {number} ({delivered.id}) has changed")
        return Verification(problems=tuple(problems))

    def revoke_and_delete(self, receipt: DeliveryReceipt) -> DeletionEvidence:
        if receipt.backend != self.kind:
            raise DeliveryError(f"{receipt.request_ref}: the receipt is not a Box delivery")
        started_at = utc_now()
        folder = receipt.location_id
        calls: list[tuple[str, str, str, str, dict[str, str] | None]] = []
        if receipt.access.collaboration_id:
            collaboration = receipt.access.collaboration_id
            calls.append(
                (
                    "revoke_collaboration",
                    f"collaboration {collaboration}",
                    "DELETE",
                    f"/2.0/collaborations/{collaboration}",
                    None,
                )
            )
        calls += [
            (
                "delete_folder",
                f"folder {folder}",
                "DELETE",
                f"/2.0/folders/{folder}",
                {"recursive": "true"},
            ),
            (
                "purge_folder_from_trash",
                f"folder {folder}",
                "DELETE",
                f"/2.0/folders/{folder}/trash",
                None,
            ),
        ]
        steps = [self._evidence(receipt.request_ref, *call) for call in calls]
        for action, path in (
            ("confirm_folder_absent", f"/2.0/folders/{folder}"),
            ("confirm_trash_purged", f"/2.0/folders/{folder}/trash"),
        ):
            step = self._evidence(receipt.request_ref, action, f"folder {folder}", "GET", path)
            if step.outcome != "already_absent":
                raise DeliveryError(f"{receipt.request_ref}: folder {folder} is still on Box")
            steps.append(
                DeletionStep(
                    action=action,
                    target=step.target,
                    outcome="confirmed_absent",
                    at=step.at,
                    status_code=step.status_code,
                )
            )
        return DeletionEvidence(
            backend=self.kind,
            request_ref=receipt.request_ref,
            location_id=folder,
            steps=tuple(steps),
            started_at=started_at,
            completed_at=utc_now(),
        )

    def _evidence(
        self,
        request_ref: str,
        action: str,
        target: str,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
    ) -> DeletionStep:
        """Make one call and record Box's real status code; a 404 means already absent."""
        options = FetchOptions(
            url=self._client.network_session.base_urls.base_url + path,
            method=method,
            params=params,
            response_format=ResponseFormat.NO_CONTENT
            if method == "DELETE"
            else ResponseFormat.JSON,
        )
        with _box_errors(f"{request_ref}: {action.replace('_', ' ')}"):
            try:
                status, outcome = self._client.make_request(options).status, "done"
            except BoxAPIError as error:
                if error.response_info.status_code != 404:
                    raise
                status, outcome = 404, "already_absent"
        return DeletionStep(
            action=action, target=target, outcome=outcome, at=utc_now(), status_code=status
        )


class _SessionExpired(Exception):
    """Box answered 404 for an upload session: it expired (or was committed and forgotten)."""


@contextmanager
def _box_errors(what: str) -> Iterator[None]:
    """Turn SDK errors into ours, keeping only the status, Box's code and its request id:
    the SDK's own message repeats the request, which may carry file names."""
    try:
        yield
    except BoxAPIError as error:
        info = error.response_info
        message = f"{what}: Box answered {info.status_code} {info.code or ''}".rstrip()
        if info.request_id:
            message += f" (request id {info.request_id})"
        transient = info.status_code == 429 or info.status_code >= 500
        raise (TransientDeliveryError if transient else DeliveryError)(message) from None
    except BoxSDKError as error:
        cause = type(error.error).__name__ if error.error else "no answer"
        raise TransientDeliveryError(f"{what}: Box could not be reached ({cause})") from None


@contextmanager
def _session_errors(what: str) -> Iterator[None]:
    """Like ``_box_errors``, but a 404 means the upload session expired."""
    try:
        yield
    except BoxAPIError as error:
        if error.response_info.status_code == 404:
            raise _SessionExpired from None
        with _box_errors(what):
            raise


def _first_conflict(error: BoxAPIError) -> dict[str, Any]:
    """The existing item a 409 names (Box sends one conflict as an object, several as a list)."""
    conflicts = (error.response_info.context_info or {}).get("conflicts") or {}
    conflict = conflicts[0] if isinstance(conflicts, list) and conflicts else conflicts
    if not isinstance(conflict, dict) or "id" not in conflict:
        raise error
    return conflict


def _same_file_in_conflict(error: BoxAPIError, part: ArchiveFile) -> _BoxFile:
    """On a 409, the existing file when it is this very part (same SHA-1); else re-raise."""
    if error.response_info.status_code != 409:
        raise error
    conflict = _first_conflict(error)
    if conflict.get("type") != "file" or conflict.get("sha1") != part.sha1:
        raise error
    return _BoxFile(conflict["id"], part.path.name, part.bytes, part.sha1)


def _session_key(folder_id: str, part: ArchiveFile) -> str:
    return f"box-upload-session/{folder_id}/{part.path.name}/{part.sha1}"


def _enum_value(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", str(value))


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
