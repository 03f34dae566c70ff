"""Open the source a request is connected to, from its stored settings and credentials.

Every worker opens a source of its own; what DrChrono allows per grant and per application
lives in the database, shared by all of them: the connection's tokens, renewed by one worker
at a time, and the application's requests this hour.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F

from exports.models import DrChronoRequestHour, SourceConnection, SourceKind
from exports.smart_keys import portal_signing_key

from .base import PracticeSource
from .demo import DemoSource
from .drchrono.budget import SECONDS_PER_HOUR, HourlyRequestBudget, SystemClock
from .drchrono.client import ClientSettings, OAuthTokens, renewed_elsewhere
from .drchrono.source import DrChronoSource
from .fhir_bulk.connection import open_fhir_bulk


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
        client_id = connection.options["client_id"]
        return DrChronoSource.connect(
            ClientSettings(
                base_url=settings.DRCHRONO_API_BASE_URL,
                token_url=settings.DRCHRONO_TOKEN_URL,
                client_id=client_id,
                client_secret=secrets["client_secret"],
                max_attempts=settings.DRCHRONO_MAX_ATTEMPTS,
                backoff_base=settings.DRCHRONO_BACKOFF_MS / 1000,
                file_downloads_per_second=settings.DRCHRONO_FILE_DOWNLOADS_PER_SECOND,
            ),
            _tokens_in(secrets),
            token_store=StoredDrChronoTokens(connection.pk),
            # A spent hour is never slept through by a worker: the stage pauses until the
            # next hour (SourceAsksToWait) and its tasks are due again then.
            budget=HourlyRequestBudget(
                settings.DRCHRONO_REQUESTS_PER_HOUR,
                clock=SystemClock(),
                max_wait=0,
                counter=DatabaseHourCounter(client_id, connection_id=connection.pk),
            ),
            spool_dir=spool_dir,
            include_source_ccda=includes_source_ccda(connection),
        )
    if connection.kind == SourceKind.FHIR_BULK:
        # Any certified EHR's Bulk Data export, signed with the portal's current key.
        return open_fhir_bulk(connection.options, portal_signing_key(), spool_dir=spool_dir)
    raise ValueError(f"unknown source kind {connection.kind!r}")


def includes_source_ccda(connection: SourceConnection) -> bool:
    """Whether DrChrono's own C-CDAs are fetched (one API call per patient): the data team
    chooses per request, else the deployment's default."""
    return bool(connection.options.get("source_ccda", settings.DRCHRONO_SOURCE_CCDA))


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


class DatabaseHourCounter:
    """Counts a DrChrono API application's requests in the database, for all workers at once:
    each request is one conditional increment, so workers spending together never count past
    the limit. Each call is also counted on the connection it is made for (the plan's
    progress)."""

    def __init__(self, client_id: str, *, connection_id: int | None = None) -> None:
        self.client_id = client_id
        self.connection_id = connection_id

    def take(self, hour: int, limit: int) -> bool:
        if not self._take(hour, limit):
            return False
        if self.connection_id is not None:
            SourceConnection.objects.filter(pk=self.connection_id).update(
                api_calls_spent=F("api_calls_spent") + 1
            )
        return True

    def _take(self, hour: int, limit: int) -> bool:
        hour_start = datetime.fromtimestamp(hour * SECONDS_PER_HOUR, tz=UTC)
        if self._count_one(hour_start, limit):
            return True
        _, created = DrChronoRequestHour.objects.get_or_create(
            client_id=self.client_id, hour_start=hour_start
        )
        if created:  # the hour has turned: earlier hours' counts are done with
            DrChronoRequestHour.objects.filter(
                client_id=self.client_id, hour_start__lt=hour_start
            ).delete()
        return self._count_one(hour_start, limit)

    def _count_one(self, hour_start: datetime, limit: int) -> bool:
        this_hour = DrChronoRequestHour.objects.filter(
            client_id=self.client_id, hour_start=hour_start, spent__lt=limit
        )
        return this_hour.update(spent=F("spent") + 1) == 1
