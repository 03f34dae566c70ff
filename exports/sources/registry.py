"""Open the source a request is connected to, from its stored settings and credentials."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.conf import settings

from exports.models import SourceConnection, SourceKind

from .base import PracticeSource
from .demo import DemoSource
from .drchrono.client import ClientSettings, OAuthTokens
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
            OAuthTokens(
                access_token=secrets["access_token"],
                refresh_token=secrets["refresh_token"],
                expires_at=datetime.fromisoformat(secrets["expires_at"]),
            ),
            on_tokens_refreshed=lambda tokens: save_drchrono_tokens(connection.pk, tokens),
            spool_dir=spool_dir,
            requests_per_hour=settings.DRCHRONO_REQUESTS_PER_HOUR,
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


def save_drchrono_tokens(connection_id: int, tokens: OAuthTokens) -> None:
    """DrChrono rotates the refresh token: the new pair must be stored at once, encrypted."""
    connection = SourceConnection.objects.get(pk=connection_id)
    secrets = json.loads(connection.credentials)
    connection.credentials = drchrono_credentials(
        client_secret=secrets["client_secret"], tokens=tokens
    )
    connection.save(update_fields=["credentials", "updated_at"])
