"""Open the source a request is connected to, from its stored settings and credentials."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from exports.models import SourceConnection, SourceKind

from .base import PracticeSource
from .demo import DemoSource
from .drchrono.budget import HourlyRequestBudget, SystemClock
from .drchrono.client import ClientSettings, OAuthTokens, renewed_elsewhere
from .drchrono.source import DrChronoSource


def open_source(connection: SourceConnection, *, spool_dir: Path) -> PracticeSource:
    if connection.kind == SourceKind.DEMO:
        return DemoSource(
            patients=int(connection.options["patients"]),
            seed=int(connection.options["seed"]),
            practice_name=connection.request.practice.name,
            large_document_bytes=settings.EXPORT_DEMO_LARGE_DOCUMENT_BYTES,
        )
    if connection.kind == SourceKind.DRCHRONO:
        secrets = json.loads(connection.credentials)
        return DrChronoSource.connect(
            ClientSettings(
                base_url=settings.DRCHRONO_API_BASE_URL,
                token_url=settings.DRCHRONO_TOKEN_URL,
                client_id=connection.options["client_id"],
                client_secret=secrets["client_secret"],
                max_attempts=settings.DRCHRONO_MAX_ATTEMPTS,
                backoff_base=settings.DRCHRONO_BACKOFF_MS / 1000,
            ),
            _tokens_in(secrets),
            token_store=StoredDrChronoTokens(connection.pk),
            budget=HourlyRequestBudget(settings.DRCHRONO_REQUESTS_PER_HOUR, clock=SystemClock()),
            spool_dir=spool_dir,
            include_source_ccda=settings.DRCHRONO_SOURCE_CCDA,
        )
    raise ValueError(f"unknown source kind {connection.kind!r}")


def drchrono_credentials(*, client_secret: str, tokens: OAuthTokens) -> str:
    return json.dumps(
        {
            "client_secret": client_secret,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(),
        }
    )


def _tokens_in(secrets: dict[str, str]) -> OAuthTokens:
    return OAuthTokens(
        access_token=secrets["access_token"],
        refresh_token=secrets["refresh_token"],
        expires_at=datetime.fromisoformat(secrets["expires_at"]),
    )


class StoredDrChronoTokens:
    """A connection's DrChrono tokens in its encrypted credentials, shared by every worker
    reading the connection.

    A renewal locks the connection's row and re-reads the tokens: a worker that waited for
    the lock while another renewed finds new tokens stored and takes them, instead of
    spending the used-up refresh token (DrChrono would refuse it, failing the stage) or
    saving older tokens over newer ones.
    """

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def renew(
        self, held: OAuthTokens, request_new: Callable[[OAuthTokens], OAuthTokens]
    ) -> OAuthTokens:
        with transaction.atomic():
            connection = SourceConnection.objects.select_for_update().get(pk=self.connection_id)
            secrets = json.loads(connection.credentials)
            stored = _tokens_in(secrets)
            if renewed_elsewhere(stored, held):
                return stored
            # The lock is held while DrChrono answers: a second worker must not renew too.
            renewed = request_new(stored)
            connection.credentials = drchrono_credentials(
                client_secret=secrets["client_secret"], tokens=renewed
            )
            connection.save(update_fields=["credentials", "updated_at"])
            return renewed
