"""Where a backend remembers unfinished uploads, so a crashed delivery resumes rather than restarts.

Box has no call that lists a user's open upload sessions: the only way to resume one after the
process died is to have written its id and endpoints down first. A store maps a key (the
delivery folder, the file name and its SHA-1) to that small JSON record. It holds no PHI and no
secret (session URLs need a token to use).

``JsonFileSessionStore`` keeps one file per key in a directory of the request's staging area
(shared storage, so any worker can resume); an implementation backed by the request's database
row works just as well.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol


class UploadSessionStore(Protocol):
    def load(self, key: str) -> dict[str, Any] | None:
        """The record saved under ``key``, or None."""

    def save(self, key: str, record: dict[str, Any]) -> None:
        """Durably replace the record under ``key``."""

    def discard(self, key: str) -> None:
        """Forget ``key``; nothing happens if it is unknown."""


class JsonFileSessionStore:
    """One small JSON file per key in ``directory`` (created 0700 on first save)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return None

    def save(self, key: str, record: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            json.dump(record, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)

    def discard(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        # keys hold file names; hashing keeps them off the file system
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")
