"""A loopback FHIR R4 Bulk Data server for tests: a real HTTP server on 127.0.0.1, a random port.

It serves a ``FhirPractice`` (``fhir_bulk_practice``): the SMART configuration, a token
endpoint that checks each client assertion's signature against the JWKS registered for the
client (and its ``kid``, ``aud``, lifetime and unique ``jti``), the capability statement, a
Group, the ``$export`` kick-off (``Prefer: respond-async`` required), a status URL that says
"in progress" first, a manifest of NDJSON files (with an error file when the test adds
OperationOutcomes), file downloads with HTTP Range, job deletion, and ``Binary`` files.
Faults are switched on per test: 429s with Retry-After, tokens that expire in the middle of
a download, jobs the server no longer offers.

    with FakeBulkServer(practice, jwks) as server:
        ... server.base_url ...
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from exports.sources.records import RecordUnavailable

from .fhir_bulk_practice import FhirPractice, ndjson_lines
from .loopback import LoopbackHandler, LoopbackServer

CLIENT_ID = "export-portal-test-client"
GROUP_ID = "practice-group"
TOKEN_PATH = "/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Fault:
    path: str  # matches request paths that contain it
    kind: str  # "throttle", "status", "drop", "expire_token_after"
    times: int = 1
    status: int = 500
    retry_after: str = "0"
    after_bytes: int = 0


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Job:
    types: tuple[str, ...]
    files: dict[str, tuple[Path, int]]  # name -> (NDJSON on disk, lines)
    polls_left: int
    deleted: bool = False


class FakeBulkServer(LoopbackServer):
    def __init__(
        self,
        practice: FhirPractice,
        jwks: dict[str, Any],
        *,
        polls_before_ready: int = 1,
        poll_retry_after: str = "0",
        requires_access_token: bool = True,
        token_lifetime: int = 300,
        supports_range: bool = True,
        fhir_version: str = "4.0.1",
        files_per_type: int = 1,
    ) -> None:
        self.practice = practice
        self.jwks = jwks
        self.polls_before_ready = polls_before_ready
        self.poll_retry_after = poll_retry_after
        self.requires_access_token = requires_access_token
        self.token_lifetime = token_lifetime
        self.supports_range = supports_range
        self.fhir_version = fhir_version
        #: lines the server drops from the end of a type's files, yet counts in the manifest
        self.lines_lost: dict[str, int] = {}
        self.gives_status_url = True  # False: kick-off answers 202 without Content-Location
        self.files_per_type = files_per_type  # a type's resources split over this many files
        self.progress_text = "Exporting for Jane Doe: 40% done"  # free text, names and all
        self.errors: list[dict[str, Any]] = []  # OperationOutcomes for the error file
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.assertions: list[dict[str, Any]] = []  # (header, claims) of accepted assertions
        self.jobs: dict[str, _Job] = {}
        self._tokens: dict[str, float] = {}
        self._seen_jti: set[str] = set()
        self._lock = threading.Lock()
        self._files_dir = Path(tempfile.mkdtemp(prefix="fake-bulk-"))
        self._listen(_Handler)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.origin}{TOKEN_PATH}"

    def _stopped(self) -> None:
        shutil.rmtree(self._files_dir, ignore_errors=True)

    # -- Switches for tests ------------------------------------------------------------------

    def throttle(self, path: str, *, times: int = 1, retry_after: str = "0") -> None:
        """The next ``times`` requests to a path containing ``path`` get 429, Retry-After."""
        self.faults.append(Fault(path, "throttle", times, retry_after=retry_after))

    def fail(self, path: str, status: int, *, times: int = 1) -> None:
        """The next ``times`` requests to a path containing ``path`` get ``status``."""
        self.faults.append(Fault(path, "status", times, status=status))

    def drop(self, path: str, *, times: int = 1) -> None:
        """The next ``times`` requests to a path containing ``path`` get no answer: the
        connection closes."""
        self.faults.append(Fault(path, "drop", times))

    def expire_token_during(self, path: str, *, after_bytes: int) -> None:
        """The next download from a path containing ``path`` sends ``after_bytes``, then
        every access token issued so far expires and the connection drops."""
        self.faults.append(Fault(path, "expire_token_after", 1, after_bytes=after_bytes))

    def forget_jobs(self) -> None:
        """Every export job expires: its status URL and files answer 404."""
        with self._lock:
            self.jobs.clear()

    def requests_to(self, prefix: str, method: str = "GET") -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.startswith(prefix) and r.method == method]

    def tokens_issued(self) -> int:
        return len(self.requests_to(TOKEN_PATH, "POST"))

    # -- Internals ---------------------------------------------------------------------------

    def _take_fault(self, path: str, kind: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind == kind and fault.times > 0 and fault.path in path:
                    fault.times -= 1
                    return fault
        return None

    def _authorized(self, header: str) -> bool:
        token = header.removeprefix("Bearer ")
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.time()

    def _expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_assertion_type") != ASSERTION_TYPE
            or not form.get("scope")
        ):
            return 400, {"error": "invalid_request"}
        try:
            token = jwt.decode(
                form.get("client_assertion", ""),
                KeySet.import_key_set(self.jwks),
                algorithms=["ES384", "RS384"],
            )
        except (JoseError, ValueError):
            return 401, {"error": "invalid_client"}
        claims, now = token.claims, time.time()
        valid = (
            token.header.get("kid") in {key["kid"] for key in self.jwks["keys"]}
            and claims.get("iss") == CLIENT_ID
            and claims.get("sub") == CLIENT_ID
            and claims.get("aud") == self.token_url
            and isinstance(claims.get("exp"), int)
            and now < claims["exp"] <= now + 300
            and isinstance(claims.get("jti"), str)
        )
        with self._lock:
            if not valid or claims["jti"] in self._seen_jti:
                return 401, {"error": "invalid_client"}
            self._seen_jti.add(claims["jti"])
            self.assertions.append({"header": token.header, "claims": claims})
            access_token = f"token-{len(self._seen_jti)}"
            self._tokens[access_token] = now + self.token_lifetime
        return 200, {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": form["scope"],
        }

    def _start_job(self, types: tuple[str, ...]) -> str:
        """Writes the job's NDJSON files to disk, line by line (served from there)."""
        with self._lock:
            job_id = f"job-{len(self.requests_to('/fhir/', 'GET'))}-{len(self.jobs)}"
        folder = self._files_dir / job_id
        folder.mkdir()
        outputs = [
            (f"{kind}-{part}.ndjson", resources[part :: self.files_per_type])
            for kind, resources in self.practice.resources.items()
            if kind in types and resources
            for part in range(min(self.files_per_type, len(resources)))
        ]
        if self.errors:
            outputs.append(("errors.ndjson", self.errors))
        files = {}
        for name, resources in outputs:
            kept = resources[: len(resources) - self.lines_lost.get(name.split("-")[0], 0)]
            with (folder / name).open("wb") as file:
                for line in ndjson_lines(kept):
                    file.write(line)
            files[name] = (folder / name, len(resources))
        with self._lock:
            self.jobs[job_id] = _Job(types, files, self.polls_before_ready)
        return job_id

    def _binary_file(self, binary_id: str) -> Path | None:
        """The Binary's content on disk, written from its ``Blob`` the first time it is asked
        for (None when the blob cannot be read: a missing file)."""
        path = self._files_dir / f"binary-{binary_id}"
        with self._lock:
            if not path.exists():
                try:
                    with path.open("wb") as file:
                        for chunk in self.practice.binaries[binary_id].chunks():
                            file.write(chunk)
                except RecordUnavailable:
                    path.unlink()
                    return None
        return path

    def _manifest(self, job_id: str, job: _Job) -> dict[str, Any]:
        host, port = self._http.server_address[:2]
        files = f"http://{host}:{port}/files/{job_id}"
        outputs = [name for name in job.files if name != "errors.ndjson"]
        return {
            "transactionTime": "2025-06-30T12:00:00Z",
            "request": f"{self.base_url}/Group/{GROUP_ID}/$export",
            "requiresAccessToken": self.requires_access_token,
            "output": [
                {
                    "type": name.split("-")[0],
                    "url": f"{files}/{name}",
                    "count": job.files[name][1],
                }
                for name in outputs
            ],
            "error": [{"type": "OperationOutcome", "url": f"{files}/errors.ndjson"}]
            if "errors.ndjson" in job.files
            else [],
        }


class _Handler(LoopbackHandler):
    fake: FakeBulkServer

    def _log(self, method: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.fake.requests.append(LoggedRequest(method, parts.path, query, dict(self.headers)))
        return parts.path, query

    def do_POST(self) -> None:
        path, _ = self._log("POST")
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if path != TOKEN_PATH:
            return self._json(404, _outcome("not-found"))
        status, body = self.fake._issue_token(form)
        self._json(status, body)

    def do_DELETE(self) -> None:
        path, _ = self._log("DELETE")
        if not self.fake._authorized(self.headers.get("Authorization", "")):
            return self._json(401, _outcome("login"))
        job = self.fake.jobs.get(path.removeprefix("/jobs/"))
        if job is None:
            return self._json(404, _outcome("not-found"))
        job.deleted = True
        self._raw(202, b"", "application/fhir+json")

    def do_GET(self) -> None:
        path, query = self._log("GET")
        fault = self.fake._take_fault(path, "throttle")
        if fault is not None:
            return self._json(429, _outcome("throttled"), {"Retry-After": fault.retry_after})
        if self.fake._take_fault(path, "drop") is not None:
            self.close_connection = True
            return None
        fault = self.fake._take_fault(path, "status")
        if fault is not None:
            return self._json(fault.status, _outcome("exception"))
        if path == "/fhir/.well-known/smart-configuration":
            return self._json(
                200,
                {
                    "token_endpoint": self.fake.token_url,
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384"],
                    "capabilities": ["client-confidential-asymmetric"],
                },
            )
        if path.startswith("/files/") and not self.fake.requires_access_token:
            return self._file(path)
        if not self.fake._authorized(self.headers.get("Authorization", "")):
            return self._json(401, _outcome("login"))
        if path == "/fhir/metadata":
            return self._json(
                200, {"resourceType": "CapabilityStatement", "fhirVersion": self.fake.fhir_version}
            )
        if path == f"/fhir/Group/{GROUP_ID}":
            count = len(self.fake.practice.patients())
            return self._json(200, {"resourceType": "Group", "id": GROUP_ID, "quantity": count})
        if path == "/fhir/Patient" and query.get("_summary") == "count":
            total = len(self.fake.practice.patients())
            return self._json(200, {"resourceType": "Bundle", "type": "searchset", "total": total})
        if path in (f"/fhir/Group/{GROUP_ID}/$export", "/fhir/$export"):
            return self._kick_off(query)
        if path.startswith("/jobs/"):
            return self._status(path.removeprefix("/jobs/"))
        if path.startswith("/files/"):
            return self._file(path)
        if path.startswith("/fhir/Binary/"):
            return self._binary(path.removeprefix("/fhir/Binary/"))
        self._json(404, _outcome("not-found"))

    def _kick_off(self, query: dict[str, str]) -> None:
        if self.headers.get("Prefer") != "respond-async":
            return self._json(400, _outcome("invalid"))
        if self.headers.get("Accept") != "application/fhir+json":
            return self._json(400, _outcome("invalid"))
        types = tuple(query.get("_type", "").split(",")) if query.get("_type") else ()
        job_id = self.fake._start_job(types or tuple(self.fake.practice.resources))
        host, port = self.fake._http.server_address[:2]
        self._raw(
            202,
            json.dumps(_outcome("informational")).encode(),
            "application/fhir+json",
            {"Content-Location": f"http://{host}:{port}/jobs/{job_id}"}
            if self.fake.gives_status_url
            else {},
        )

    def _status(self, job_id: str) -> None:
        job = self.fake.jobs.get(job_id)
        if job is None or job.deleted:
            return self._json(404, _outcome("not-found"))
        if job.polls_left > 0:
            job.polls_left -= 1
            return self._raw(
                202,
                b"",
                "application/json",
                {"X-Progress": self.fake.progress_text, "Retry-After": self.fake.poll_retry_after},
            )
        self._json(200, self.fake._manifest(job_id, job))

    def _file(self, path: str) -> None:
        job_id, _, name = path.removeprefix("/files/").partition("/")
        job = self.fake.jobs.get(job_id)
        if job is None or job.deleted or name not in job.files:
            return self._json(404, _outcome("not-found"))
        self._ranged(path, job.files[name][0], "application/fhir+ndjson")

    def _binary(self, binary_id: str) -> None:
        blob = self.fake.practice.binaries.get(binary_id)
        stored = None if blob is None else self.fake._binary_file(binary_id)
        if blob is None or stored is None:
            return self._json(404, _outcome("not-found"))
        self._ranged(f"/fhir/Binary/{binary_id}", stored, blob.media_type)

    def _ranged(self, path: str, stored: Path, content_type: str) -> None:
        """The file from disk, from the requested byte on, in pieces: never all in memory."""
        size, status, start = stored.stat().st_size, 200, 0
        requested = self.headers.get("Range", "")
        if self.fake.supports_range and requested.startswith("bytes="):
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        fault = self.fake._take_fault(path, "expire_token_after")
        with stored.open("rb") as file:
            file.seek(start)
            if fault is not None:
                self.wfile.write(file.read(fault.after_bytes))
                self.wfile.flush()
                self.fake._expire_tokens()
                self.close_connection = True
                return
            while piece := file.read(64 * 1024):
                self.wfile.write(piece)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(body).encode(), "application/fhir+json", headers)


def _outcome(code: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error" if code != "informational" else "information", "code": code}
        ],
    }


class WallClock:
    """Real time (the fake checks tokens and assertions against it); waits are recorded
    instead of slept, so tests never really wait."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
