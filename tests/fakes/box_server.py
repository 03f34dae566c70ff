"""A stateful fake of the Box Content API, served over real HTTP on 127.0.0.1.

The real ``box_sdk_gen`` client talks to it (point ``BaseUrls`` at ``api_url``, ``upload_url``
and ``oauth_url``). It implements exactly what the delivery backend uses, with Box's wire
shapes (see /work/shared/reference/box-api.md): the CCG token endpoint, users/me, folders
(create with a 409 conflict body, get, items, shared link via PUT, recursive delete, trash get
and purge), small multipart uploads (with the Content-MD5 SHA-1 check), chunked upload
sessions (create, part upload checked against Content-Range and ``digest: sha=``, list parts,
commit that really checks the whole file's SHA-1, abort), file delete and purge, and
collaborations (create, list per folder, delete).

State lives in memory and is exposed to tests (``files``, ``folders``, ``collaborations``,
``upload_sessions``, ``requests``); faults are switchable (``inject_fault``, ``clear_faults``,
``expire_upload_sessions``, ``allow_shared_link_expiry``, ``allow_collaboration_expiry``).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import itertools
import json
import math
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

SERVICE_ACCOUNT = {
    "type": "user",
    "id": "20001",
    "name": "Export Portal service account",
    "login": "AutomationUser_20001@boxdevedition.com",
}
ROOT_FOLDER_ID = "0"
_UPLOAD_PREFIX = "/upload"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_JWT_AUDIENCE = "https://api.box.com/oauth2/token"


@dataclass
class FakeFolder:
    id: str
    name: str
    parent_id: str | None
    owner: dict[str, str]
    shared_link: dict[str, Any] | None = None
    shared_link_password: str | None = None
    trashed: bool = False


@dataclass
class FakeFile:
    id: str
    name: str
    parent_id: str
    content: bytes
    trashed: bool = False

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.content).hexdigest()


@dataclass
class FakeCollaboration:
    id: str
    folder_id: str
    login: str
    role: str
    expires_at: str | None
    notified: bool


@dataclass
class FakeUploadSession:
    id: str
    folder_id: str
    file_name: str
    file_size: int
    part_size: int
    #: offset -> (part record as Box returns it, the part's bytes)
    parts: dict[int, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    expired: bool = False
    committed: bool = False

    @property
    def total_parts(self) -> int:
        return math.ceil(self.file_size / self.part_size)


@dataclass
class Fault:
    """Answer ``status`` instead of serving matching requests, ``times`` times, after letting
    ``after`` matching requests through."""

    method: str
    path: re.Pattern[str]
    status: int
    times: int
    after: int = 0
    retry_after: str | None = None
    code: str | None = None
    body: dict[str, Any] | None = None


class BoxApiFailure(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class FakeBoxServer:
    """Start with ``with FakeBoxServer() as box:``; ``box.api_url`` etc. give the base URLs."""

    def __init__(self, *, part_size: int = 1024, session_lifetime_days: int = 7) -> None:
        self.part_size = part_size
        self.session_lifetime = timedelta(days=session_lifetime_days)
        self.allow_shared_link_expiry = True
        self.allow_collaboration_expiry = True
        self.folders: dict[str, FakeFolder] = {
            ROOT_FOLDER_ID: FakeFolder(ROOT_FOLDER_ID, "All Files", None, SERVICE_ACCOUNT)
        }
        self.files: dict[str, FakeFile] = {}
        self.collaborations: dict[str, FakeCollaboration] = {}
        self.upload_sessions: dict[str, FakeUploadSession] = {}
        #: (method, path) of every request served, faults included, in order
        self.requests: list[tuple[str, str]] = []
        self.tokens_issued = 0
        #: JWT apps' public keys by key id (PEM), for the JWT bearer grant
        self.jwt_public_keys: dict[str, bytes] = {}
        self._faults: list[Fault] = []
        self._ids = itertools.count(100_000)
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeBoxServer:
        handler = type("BoundHandler", (_Handler,), {"box": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeBoxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def upload_url(self) -> str:
        return self.api_url + _UPLOAD_PREFIX

    @property
    def oauth_url(self) -> str:
        return self.api_url + "/oauth2"

    # -- test controls and views -----------------------------------------------------------

    def add_folder(self, name: str, parent_id: str = ROOT_FOLDER_ID, owner: dict | None = None):
        """Create a folder directly (e.g. one that will conflict with the backend's)."""
        with self._lock:
            folder = FakeFolder(self._new_id(), name, parent_id, owner or SERVICE_ACCOUNT)
            self.folders[folder.id] = folder
            return folder

    def inject_fault(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        retry_after: str | None = None,
        code: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer ``status`` to the next ``times`` requests whose path matches (re.search)."""
        with self._lock:
            self._faults.append(
                Fault(
                    method, re.compile(path_pattern), status, times, after, retry_after, code, body
                )
            )

    def clear_faults(self) -> None:
        """Box answers normally again."""
        with self._lock:
            self._faults.clear()

    def expire_upload_sessions(self) -> None:
        """Every open upload session now answers 404, as Box does after ``session_expires_at``."""
        with self._lock:
            for session in self.upload_sessions.values():
                session.expired = True

    def live_files(self, folder_id: str) -> list[FakeFile]:
        return [f for f in self.files.values() if f.parent_id == folder_id and not f.trashed]

    def folder_named(self, name: str, parent_id: str = ROOT_FOLDER_ID) -> FakeFolder | None:
        return next(
            (
                f
                for f in self.folders.values()
                if f.parent_id == parent_id and f.name == name and not f.trashed
            ),
            None,
        )

    def trashed_ids(self) -> set[str]:
        """Ids of everything in the trash (folders and files)."""
        items = [*self.folders.values(), *self.files.values()]
        return {item.id for item in items if item.trashed}

    def count_requests(self, method: str, path_pattern: str) -> int:
        pattern = re.compile(path_pattern)
        return sum(1 for m, p in self.requests if m == method and pattern.search(p))

    # -- request handling ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers, body: bytes):
        """Serve one request: returns (status, extra headers, JSON body or None)."""
        with self._lock:
            self.requests.append((method, path))
            fault = self._take_fault(method, path)
            if fault is not None:
                return _fault_response(fault)
            if path == "/oauth2/token":
                return self._token(body)
            if headers.get("Authorization", "") not in self._valid_auth_headers():
                return _error(401, "unauthorized", "Unauthorized")
            for route_method, pattern, action in self._routes():
                match = pattern.fullmatch(path)
                if match and route_method == method:
                    try:
                        return action(*match.groups(), query=query, headers=headers, body=body)
                    except BoxApiFailure as failure:
                        return _error(
                            failure.status, failure.code, failure.message, **failure.extra
                        )
            return _error(404, "not_found", "Not Found")

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        sessions = _UPLOAD_PREFIX + "/2.0/files/upload_sessions"
        table = [
            ("GET", "/2.0/users/me", self._users_me),
            ("POST", "/2.0/folders", self._create_folder),
            ("GET", r"/2.0/folders/(\w+)", self._get_folder),
            ("PUT", r"/2.0/folders/(\w+)", self._update_folder),
            ("DELETE", r"/2.0/folders/(\w+)", self._delete_folder),
            ("GET", r"/2.0/folders/(\w+)/items", self._folder_items),
            ("GET", r"/2.0/folders/(\w+)/collaborations", self._folder_collaborations),
            ("GET", r"/2.0/folders/(\w+)/trash", self._get_trashed_folder),
            ("DELETE", r"/2.0/folders/(\w+)/trash", self._purge_folder),
            ("DELETE", r"/2.0/files/(\w+)", self._delete_file),
            ("DELETE", r"/2.0/files/(\w+)/trash", self._purge_file),
            ("POST", "/2.0/collaborations", self._create_collaboration),
            ("DELETE", r"/2.0/collaborations/(\w+)", self._delete_collaboration),
            ("POST", _UPLOAD_PREFIX + "/2.0/files/content", self._upload_file),
            ("POST", sessions, self._create_session),
            ("GET", sessions + r"/(\w+)", self._session_status),
            ("PUT", sessions + r"/(\w+)", self._upload_part),
            ("GET", sessions + r"/(\w+)/parts", self._list_parts),
            ("POST", sessions + r"/(\w+)/commit", self._commit),
            ("DELETE", sessions + r"/(\w+)", self._abort_session),
        ]
        return [(method, re.compile(path), action) for method, path, action in table]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.times > 0 and fault.path.search(path):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    def _valid_auth_headers(self) -> set[str]:
        return {f"Bearer fake-token-{n}" for n in range(1, self.tokens_issued + 1)}

    def _new_id(self) -> str:
        return str(next(self._ids))

    # -- auth and users ----------------------------------------------------------------------

    def _token(self, body: bytes):
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if not form.get("client_secret") or not (
            form.get("grant_type") == "client_credentials"
            or (form.get("grant_type") == _JWT_GRANT and self._valid_assertion(form))
        ):
            return 400, {}, {"error": "invalid_grant", "error_description": "bad grant"}
        self.tokens_issued += 1
        token = f"fake-token-{self.tokens_issued}"
        return 200, {}, {"access_token": token, "expires_in": 3600, "token_type": "bearer"}

    def _valid_assertion(self, form: dict[str, str]) -> bool:
        assertion = form.get("assertion", "")
        key = self.jwt_public_keys.get(jwt.get_unverified_header(assertion).get("kid"))
        if key is None:
            return False
        try:
            jwt.decode(
                assertion,
                key,
                algorithms=["RS256", "RS384", "RS512"],
                audience=_JWT_AUDIENCE,
                issuer=form.get("client_id"),
                options={"require": ["exp", "jti", "sub"]},
            )
        except jwt.InvalidTokenError:
            return False
        return True

    def _users_me(self, **_):
        return 200, {}, SERVICE_ACCOUNT

    # -- folders -----------------------------------------------------------------------------

    def _create_folder(self, *, body: bytes, **_):
        payload = json.loads(body)
        parent = self._live_folder(payload["parent"]["id"])
        self._check_name_free(payload["name"], parent.id, conflicts_as_list=True)
        folder = FakeFolder(self._new_id(), payload["name"], parent.id, SERVICE_ACCOUNT)
        self.folders[folder.id] = folder
        return 201, {}, self._folder_json(folder)

    def _get_folder(self, folder_id: str, **_):
        return 200, {}, self._folder_json(self._live_folder(folder_id))

    def _update_folder(self, folder_id: str, *, body: bytes, **_):
        folder = self._live_folder(folder_id)
        link = json.loads(body).get("shared_link")
        if link is not None:
            folder.shared_link, folder.shared_link_password = self._shared_link(link)
        return 200, {}, self._folder_json(folder)

    def _shared_link(self, request: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        access = request.get("access", "open")
        password = request.get("password")
        if password is not None:
            if access != "open":
                raise BoxApiFailure(400, "bad_request", "Password requires open access")
            if len(password) < 8 or password.isalpha():
                raise BoxApiFailure(400, "bad_request", "Password is too weak")
        unshared_at = request.get("unshared_at")
        if unshared_at is not None and not self.allow_shared_link_expiry:
            raise BoxApiFailure(
                403, "invalid_parameter", "Invalid value for 'unshared_at'", context_info={}
            )
        link = {
            "url": f"https://app.box.com/s/{secrets.token_hex(16)}",
            "download_url": None,
            "vanity_url": None,
            "vanity_name": None,
            "access": access,
            "effective_access": access,
            "effective_permission": "can_download",
            "unshared_at": unshared_at,
            "is_password_enabled": password is not None,
            "permissions": {"can_download": True, "can_preview": True, "can_edit": False},
            "download_count": 0,
            "preview_count": 0,
        }
        return link, password

    def _delete_folder(self, folder_id: str, *, query: dict[str, str], **_):
        folder = self._live_folder(folder_id)
        children = [
            *self._children(folder_id, self.folders),
            *self._children(folder_id, self.files),
        ]
        if children and query.get("recursive", "").lower() != "true":
            raise BoxApiFailure(400, "folder_not_empty", "Cannot delete - folder not empty")
        for item in self._descendants(folder_id):
            item.trashed = True
        folder.trashed = True
        return 204, {}, None

    def _folder_items(self, folder_id: str, *, query: dict[str, str], **_):
        self._live_folder(folder_id)
        items = [
            *(self._folder_json(f) for f in self._children(folder_id, self.folders)),
            *(self._file_json(f) for f in self._children(folder_id, self.files)),
        ]
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        page = items[offset : offset + limit]
        return (
            200,
            {},
            {"total_count": len(items), "entries": page, "offset": offset, "limit": limit},
        )

    def _folder_collaborations(self, folder_id: str, **_):
        self._live_folder(folder_id)
        entries = [
            self._collaboration_json(c)
            for c in self.collaborations.values()
            if c.folder_id == folder_id
        ]
        return 200, {}, {"entries": entries, "limit": 100, "next_marker": None}

    def _get_trashed_folder(self, folder_id: str, **_):
        folder = self.folders.get(folder_id)
        if folder is None or not folder.trashed:
            raise BoxApiFailure(404, "not_found", "Not Found")
        return 200, {}, self._folder_json(folder)

    def _purge_folder(self, folder_id: str, **_):
        folder = self.folders.get(folder_id)
        if folder is None or not folder.trashed:
            raise BoxApiFailure(404, "not_found", "Not Found")
        for item in self._descendants(folder_id):
            (self.folders if isinstance(item, FakeFolder) else self.files).pop(item.id)
        del self.folders[folder_id]
        for collaboration in list(self.collaborations.values()):
            if collaboration.folder_id not in self.folders:
                del self.collaborations[collaboration.id]
        return 204, {}, None

    # -- files -------------------------------------------------------------------------------

    def _delete_file(self, file_id: str, **_):
        file = self.files.get(file_id)
        if file is None or file.trashed:
            raise BoxApiFailure(404, "not_found", "Not Found")
        file.trashed = True
        return 204, {}, None

    def _purge_file(self, file_id: str, **_):
        file = self.files.get(file_id)
        if file is None or not file.trashed:
            raise BoxApiFailure(404, "not_found", "Not Found")
        del self.files[file_id]
        return 204, {}, None

    def _upload_file(self, *, headers, body: bytes, **_):
        fields = _multipart_fields(headers.get("Content-Type", ""), body)
        names = [name for name, _ in fields]
        if names != ["attributes", "file"]:
            raise BoxApiFailure(400, "metadata_after_file_contents", "attributes must come first")
        attributes = json.loads(fields[0][1])
        content = fields[1][1]
        expected_sha1 = headers.get("Content-MD5")
        if expected_sha1 and expected_sha1.lower() != hashlib.sha1(content).hexdigest():
            raise BoxApiFailure(400, "bad_digest", "The SHA-1 does not match the content")
        file = self._store_file(attributes["name"], attributes["parent"]["id"], content)
        return 201, {}, {"total_count": 1, "entries": [self._file_json(file)]}

    def _store_file(self, name: str, folder_id: str, content: bytes) -> FakeFile:
        self._live_folder(folder_id)
        self._check_name_free(name, folder_id, conflicts_as_list=False)
        file = FakeFile(self._new_id(), name, folder_id, content)
        self.files[file.id] = file
        return file

    # -- chunked upload sessions ---------------------------------------------------------------

    def _create_session(self, *, body: bytes, **_):
        payload = json.loads(body)
        self._live_folder(payload["folder_id"])
        self._check_name_free(payload["file_name"], payload["folder_id"], conflicts_as_list=False)
        session = FakeUploadSession(
            id=secrets.token_hex(16).upper(),
            folder_id=payload["folder_id"],
            file_name=payload["file_name"],
            file_size=int(payload["file_size"]),
            part_size=self.part_size,
        )
        self.upload_sessions[session.id] = session
        return 201, {}, self._session_json(session)

    def _session_status(self, session_id: str, **_):
        return 200, {}, self._session_json(self._live_session(session_id))

    def _upload_part(self, session_id: str, *, headers, body: bytes, **_):
        session = self._live_session(session_id)
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("Content-Range", ""))
        if match is None:
            raise BoxApiFailure(400, "bad_request", "Content-Range is missing or malformed")
        start, end, total = (int(group) for group in match.groups())
        size = end - start + 1
        expected_size = min(session.part_size, session.file_size - start)
        if total != session.file_size or start % session.part_size or size != expected_size:
            raise BoxApiFailure(416, "range_not_satisfiable", "The part range is not valid")
        if len(body) != size:
            raise BoxApiFailure(400, "bad_request", "The body does not match Content-Range")
        if headers.get("Digest", "") != _sha1_digest_header(body):
            raise BoxApiFailure(400, "bad_digest", "The digest does not match the part")
        part = {
            "part_id": secrets.token_hex(4).upper(),
            "offset": start,
            "size": size,
            "sha1": hashlib.sha1(body).hexdigest(),
        }
        stored = session.parts.get(start)
        if stored is not None:
            if stored[0]["sha1"] != part["sha1"]:
                raise BoxApiFailure(416, "range_not_satisfiable", "The part overlaps another")
            part = stored[0]
        session.parts[start] = (part, body)
        return 200, {}, {"part": part}

    def _list_parts(self, session_id: str, **_):
        session = self._live_session(session_id)
        entries = [part for _, (part, _) in sorted(session.parts.items())]
        return (
            200,
            {},
            {"total_count": len(entries), "entries": entries, "offset": 0, "limit": 1000},
        )

    def _commit(self, session_id: str, *, headers, body: bytes, **_):
        session = self._live_session(session_id)
        listed = sorted(json.loads(body)["parts"], key=lambda part: part["offset"])
        stored = [part for _, (part, _) in sorted(session.parts.items())]
        if listed != stored or len(stored) != session.total_parts:
            raise BoxApiFailure(400, "bad_request", "The parts do not match the uploaded parts")
        content = b"".join(data for _, (_, data) in sorted(session.parts.items()))
        if headers.get("Digest", "") != _sha1_digest_header(content):
            raise BoxApiFailure(400, "bad_digest", "The digest does not match the file")
        file = self._store_file(session.file_name, session.folder_id, content)
        session.committed = True
        return 201, {}, {"total_count": 1, "entries": [self._file_json(file)]}

    def _abort_session(self, session_id: str, **_):
        self._live_session(session_id)
        del self.upload_sessions[session_id]
        return 204, {}, None

    # -- collaborations ----------------------------------------------------------------------

    def _create_collaboration(self, *, query: dict[str, str], body: bytes, **_):
        payload = json.loads(body)
        folder = self._live_folder(payload["item"]["id"])
        login = payload["accessible_by"]["login"].lower()
        if any(c.folder_id == folder.id and c.login == login for c in self.collaborations.values()):
            raise BoxApiFailure(400, "user_already_collaborator", "User is already a collaborator")
        expires_at = payload.get("expires_at")
        if expires_at is not None and not self.allow_collaboration_expiry:
            raise BoxApiFailure(400, "bad_request", "Collaboration expiry is not enabled")
        collaboration = FakeCollaboration(
            id=self._new_id(),
            folder_id=folder.id,
            login=login,
            role=payload["role"],
            expires_at=expires_at,
            notified=query.get("notify", "").lower() == "true",
        )
        self.collaborations[collaboration.id] = collaboration
        return 201, {}, self._collaboration_json(collaboration)

    def _delete_collaboration(self, collaboration_id: str, **_):
        if self.collaborations.pop(collaboration_id, None) is None:
            raise BoxApiFailure(404, "not_found", "Not Found")
        return 204, {}, None

    # -- helpers -------------------------------------------------------------------------------

    def _live_folder(self, folder_id: str) -> FakeFolder:
        folder = self.folders.get(folder_id)
        if folder is None or folder.trashed:
            raise BoxApiFailure(404, "not_found", "Not Found")
        return folder

    def _live_session(self, session_id: str) -> FakeUploadSession:
        session = self.upload_sessions.get(session_id)
        if session is None or session.expired or session.committed:
            raise BoxApiFailure(404, "not_found", "Upload session not found or expired")
        return session

    def _children(self, folder_id: str, items: dict) -> list:
        return [item for item in items.values() if item.parent_id == folder_id and not item.trashed]

    def _descendants(self, folder_id: str) -> list:
        found = [f for f in self.files.values() if f.parent_id == folder_id]
        for child in [f for f in self.folders.values() if f.parent_id == folder_id]:
            found += [child, *self._descendants(child.id)]
        return found

    def _check_name_free(self, name: str, folder_id: str, *, conflicts_as_list: bool) -> None:
        siblings = [
            *(self._folder_json(f) for f in self._children(folder_id, self.folders)),
            *(self._file_json(f) for f in self._children(folder_id, self.files)),
        ]
        for sibling in siblings:
            if sibling["name"].casefold() == name.casefold():
                # Box sends one conflict as an object for uploads, a list for folder creation
                conflicts = [sibling] if conflicts_as_list else sibling
                raise BoxApiFailure(
                    409,
                    "item_name_in_use",
                    "Item with the same name already exists",
                    context_info={"conflicts": conflicts},
                )

    def _folder_json(self, folder: FakeFolder) -> dict[str, Any]:
        parent = self.folders.get(folder.parent_id) if folder.parent_id else None
        data = {
            "type": "folder",
            "id": folder.id,
            "sequence_id": "0",
            "etag": "0",
            "name": folder.name,
            "created_by": folder.owner,
            "owned_by": folder.owner,
            "item_status": "trashed" if folder.trashed else "active",
            "parent": (
                {"type": "folder", "id": parent.id, "name": parent.name} if parent else None
            ),
        }
        if folder.shared_link is not None:
            data["shared_link"] = folder.shared_link
        return data

    def _file_json(self, file: FakeFile) -> dict[str, Any]:
        return {
            "type": "file",
            "id": file.id,
            "sequence_id": "0",
            "etag": "0",
            "name": file.name,
            "size": len(file.content),
            "sha1": file.sha1,
            "parent": {"type": "folder", "id": file.parent_id},
            "created_by": SERVICE_ACCOUNT,
            "owned_by": SERVICE_ACCOUNT,
            "item_status": "trashed" if file.trashed else "active",
        }

    def _collaboration_json(self, collaboration: FakeCollaboration) -> dict[str, Any]:
        folder = self.folders[collaboration.folder_id]
        return {
            "type": "collaboration",
            "id": collaboration.id,
            "item": {"type": "folder", "id": folder.id, "name": folder.name},
            "accessible_by": {
                "type": "user",
                "id": "3" + collaboration.id,
                "login": collaboration.login,
                "name": collaboration.login,
            },
            "invite_email": collaboration.login,
            "role": collaboration.role,
            "expires_at": collaboration.expires_at,
            "status": "pending",
            "is_access_only": False,
            "created_by": SERVICE_ACCOUNT,
        }

    def _session_json(self, session: FakeUploadSession) -> dict[str, Any]:
        url = f"{self.upload_url}/2.0/files/upload_sessions/{session.id}"
        expires = datetime.now(UTC).replace(microsecond=0) + self.session_lifetime
        return {
            "id": session.id,
            "type": "upload_session",
            "session_expires_at": expires.isoformat(),
            "part_size": session.part_size,
            "total_parts": session.total_parts,
            "num_parts_processed": len(session.parts),
            "session_endpoints": {
                "upload_part": url,
                "commit": url + "/commit",
                "abort": url,
                "list_parts": url + "/parts",
                "status": url,
                "log_event": url + "/log",
            },
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    box: FakeBoxServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        status, headers, payload = self.box.handle(
            self.command, url.path, query, self.headers, self._read_body()
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet; ``FakeBoxServer.requests`` records every request."""


def _error(status: int, code: str, message: str, **extra: Any):
    body = {
        "type": "error",
        "status": status,
        "code": code,
        "message": message,
        "request_id": secrets.token_hex(6),
        **extra,
    }
    return status, {}, body


def _fault_response(fault: Fault):
    status, headers, body = _error(fault.status, fault.code or "injected_fault", "Injected fault")
    if fault.body is not None:
        body = {**body, **fault.body}
    if fault.retry_after is not None:
        headers = {"Retry-After": fault.retry_after}
    return status, headers, body


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """(name, bytes) of each part of a multipart/form-data body, in order."""
    document = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not document.is_multipart():
        raise BoxApiFailure(400, "bad_request", "Expected a multipart body")
    return [
        (part.get_param("name", header="content-disposition"), part.get_payload(decode=True))
        for part in document.iter_parts()
    ]


def _sha1_digest_header(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()
