"""Where a Bulk Data export got to, in a small JSON file in the source's work folder.

A run that stops (a worker restarts, the EHR asks to wait an hour) resumes the same export
job: the status URL is polled again, or the manifest's files are downloaded from where they
stopped, as long as the EHR still offers them. The file holds no PHI: URLs the EHR made for
the job, file names and byte counts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exports.private_files import replace_private_file


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One file of the manifest: NDJSON of one resource type (``error``: OperationOutcomes)."""

    type: str
    url: str
    error: bool = False
    count: int | None = None


@dataclass(slots=True)
class ExportJobState:
    """The export job this source started, and what of it is done."""

    request_key: str  # what was asked (kind, group, types, since): a changed ask starts anew
    status_url: str = ""
    outputs: list[OutputFile] = field(default_factory=list)
    requires_access_token: bool = True
    transaction_time: str = ""
    downloaded: list[str] = field(default_factory=list)  # urls of files complete on disk
    deleted: bool = False  # the job was deleted on the server: its files are gone

    @property
    def has_manifest(self) -> bool:
        return bool(self.transaction_time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ExportJobState:
        data: dict[str, Any] = json.loads(text)
        data["outputs"] = [OutputFile(**output) for output in data["outputs"]]
        return cls(**data)


class JobStateFile:
    """The state file, replaced atomically at every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, request_key: str) -> ExportJobState:
        """The saved state for this ask, else a fresh one."""
        try:
            state = ExportJobState.from_json(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return ExportJobState(request_key=request_key)
        if state.request_key != request_key:
            return ExportJobState(request_key=request_key)
        return state

    def save(self, state: ExportJobState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_private_file(self.path, state.to_json())
