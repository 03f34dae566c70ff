"""DrChrono outside the portal (``manage.py export_practice --source drchrono``): the spec the
export opens its source from, and the grant's tokens kept in a local file."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from exports.private_files import replace_private_file

from ..base import PracticeSource
from ..records import SourceError
from .budget import Clock, FileHourCounter, HourlyRequestBudget, SystemClock
from .client import ClientSettings, OAuthTokens, Usage
from .source import DrChronoSource

#: an access token given without its expiry is used until DrChrono answers 401, then renewed
_UNKNOWN_EXPIRY = datetime(9999, 1, 1, tzinfo=UTC)
#: no access token given: renew one before the first request
_ALREADY_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DrChronoSourceSpec:
    """A practice's DrChrono account, one OAuth grant.

    Read by one process: DrChrono's hourly request limit and its refresh token, which turns
    over at every renewal, belong to the grant, so parallel readers would each spend a whole
    hour's budget and race each other to renew the token. ``prepare()`` spools the practice
    in a few hundred requests; the time goes into file downloads, which the budget paces.

    Renewed tokens are written to ``token_file`` (owner-only) at once, so the grant survives
    the run. ``include_source_ccda``: fetch DrChrono's own C-CDA for each patient (one request
    each from the hourly budget) and ship it when it passes the CDA schema.

    A spent hour is waited out (``on_wait`` is told until when). ``work_dir`` keeps the spool,
    the files already fetched and the hour's count of calls, so a stopped run given the same
    folder resumes without repeating a call DrChrono already answered.
    """

    settings: ClientSettings
    tokens: OAuthTokens
    token_file: Path
    requests_per_hour: int = 500
    include_source_ccda: bool = True
    work_dir: Path | None = None
    clock: Clock = field(default_factory=SystemClock)
    on_wait: Callable[[float], None] | None = None
    #: what the run spent: API calls by endpoint, file downloads
    usage: Usage = field(default_factory=Usage)

    max_workers: ClassVar[int | None] = 1

    def open(self, spool_dir: Path) -> PracticeSource:
        counter = None
        if self.work_dir is not None:
            self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # PHI: owner only
            spool_dir = self.work_dir / "source-spool"
            counter = FileHourCounter(self.work_dir / "drchrono-calls-this-hour.json")
        budget = HourlyRequestBudget(
            self.requests_per_hour,
            clock=self.clock,
            max_wait=math.inf,  # nothing else to do: wait for the next hour
            counter=counter,
            on_wait=self.on_wait,
        )
        return DrChronoSource.connect(
            self.settings,
            self.tokens,
            token_store=TokenFile(self.token_file),
            budget=budget,
            spool_dir=spool_dir,
            clock=self.clock,
            usage=self.usage,
            include_source_ccda=self.include_source_ccda,
        )


@dataclass(frozen=True)
class TokenFile:
    """A local grant's tokens, renewed straight away: one process reads a local grant, so no
    one else renews them meanwhile; renewed tokens are saved at once, for the next run."""

    path: Path

    def renew(
        self, held: OAuthTokens, request_new: Callable[[OAuthTokens], OAuthTokens]
    ) -> OAuthTokens:
        renewed = request_new(held)
        save_tokens(self.path, renewed)
        return renewed


def initial_tokens(access_token: str, refresh_token: str) -> OAuthTokens:
    """Tokens given by hand: their expiry is unknown, so DrChrono's 401 decides when the
    access token is renewed (or it is renewed at once when none is given)."""
    if not refresh_token:
        raise ValueError("a DrChrono refresh token is required")
    return OAuthTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=_UNKNOWN_EXPIRY if access_token else _ALREADY_EXPIRED,
    )


def load_tokens(path: Path) -> OAuthTokens:
    """The tokens a previous run saved with ``save_tokens``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return OAuthTokens(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = type(exc).__name__
        raise SourceError(f"the DrChrono token file cannot be read ({reason})") from None


def save_tokens(path: Path, tokens: OAuthTokens) -> None:
    """Replace ``path`` atomically with ``tokens``, readable by the owner only."""
    document = json.dumps(
        {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(),
        }
    )
    replace_private_file(path, document)
