"""Attaching a practice's data source to a request, and testing it."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from exports.models import SourceConnection, SourceKind
from exports.plan import warn_if_late
from exports.smart_keys import portal_key_ring
from exports.sources.demo import MAX_PATIENTS, MIN_PATIENTS
from exports.sources.drchrono.client import OAuthTokens
from exports.sources.fhir_bulk.connection import fhir_bulk_options, fhir_instant
from exports.sources.records import SourceError
from exports.sources.registry import drchrono_credentials, open_source
from requests_app import permissions
from requests_app.models import ExportRequest, Status
from requests_app.selectors import request_for_update
from requests_app.services import RequestActionError, request_event_record

#: a FHIR resource id (FHIR R4 "id" datatype)
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# A running pipeline reads the source: it is not swapped underneath it.
CONNECTABLE = (Status.CLAIMED, Status.FAILED)

#: the request's operator attaches, changes and tests its source while it is claimed or failed
CONNECT_SOURCE = permissions.Rule(
    may=permissions.can_operate_request,
    applies=lambda export_request: export_request.status in CONNECTABLE,
)


def _locked_request(export_request_id: int, actor) -> ExportRequest:
    export_request = request_for_update(export_request_id)
    if not CONNECT_SOURCE.may(actor, export_request):
        raise permissions.refusal(actor, "source.connected", export_request_id)
    if not CONNECT_SOURCE.applies(export_request):
        raise RequestActionError(
            "The data source can be changed only while the request is claimed."
        )
    return export_request


def _save(
    export_request: ExportRequest, actor, *, kind: str, options: dict, credentials: str
) -> SourceConnection:
    connection, _ = SourceConnection.objects.update_or_create(
        request=export_request,
        defaults={
            "kind": kind,
            "options": options,
            "credentials": credentials,
            "updated_by": actor,
            "last_tested_at": None,
            "last_test_ok": None,
            "last_test_patient_count": None,
            "last_test_detail": "",
            "last_test_list_sizes": {},
            "api_calls_spent": 0,
            "plan_warned_at": None,
        },
    )
    request_event_record(
        export_request, actor=actor, action="source.connected", details={"kind": kind, **options}
    )
    return connection


@transaction.atomic
def source_connect_demo(
    *, export_request_id: int, actor, patients: int, seed: int
) -> SourceConnection:
    if not MIN_PATIENTS <= patients <= MAX_PATIENTS:
        raise RequestActionError(
            f"A demo practice has {MIN_PATIENTS:,} to {MAX_PATIENTS:,} patients."
        )
    export_request = _locked_request(export_request_id, actor)
    return _save(
        export_request,
        actor,
        kind=SourceKind.DEMO,
        options={"patients": patients, "seed": seed},
        credentials="",
    )


@transaction.atomic
def source_connect_drchrono(
    *,
    export_request_id: int,
    actor,
    client_id: str,
    client_secret: str,
    access_token: str,
    refresh_token: str,
    expires_at: datetime,
    source_ccda: bool = True,
) -> SourceConnection:
    """The secrets are stored encrypted and never shown again; only the client id is."""
    if not all(value.strip() for value in (client_id, client_secret, access_token, refresh_token)):
        raise RequestActionError(
            "DrChrono needs the client id, client secret, access token and refresh token."
        )
    export_request = _locked_request(export_request_id, actor)
    tokens = OAuthTokens(
        access_token=access_token.strip(),
        refresh_token=refresh_token.strip(),
        expires_at=expires_at,
    )
    return _save(
        export_request,
        actor,
        kind=SourceKind.DRCHRONO,
        options={"client_id": client_id.strip(), "source_ccda": source_ccda},
        credentials=drchrono_credentials(client_secret=client_secret.strip(), tokens=tokens),
    )


@transaction.atomic
def source_connect_fhir_bulk(
    *,
    export_request_id: int,
    actor,
    base_url: str,
    client_id: str,
    group_id: str = "",
    since: datetime | None = None,
) -> SourceConnection:
    """An EHR's FHIR R4 server, read with the portal's signing key: nothing secret is stored
    on the connection (the private key is the portal's, encrypted in ``SmartKeyRing``).
    ``since``: only what changed since then (``_since``), stored as a FHIR instant in UTC."""
    base_url, client_id, group_id = (
        base_url.strip().rstrip("/"),
        client_id.strip(),
        group_id.strip(),
    )
    if not _is_safe_fhir_url(base_url):
        raise RequestActionError(
            "The FHIR base URL must be https:// (plain http only for this machine)."
        )
    if not client_id:
        raise RequestActionError("FHIR Bulk Data needs the client id the EHR registered.")
    if group_id and not FHIR_ID.fullmatch(group_id):
        raise RequestActionError("A FHIR Group id is 1 to 64 letters, digits, '-' or '.'.")
    if since is not None and since > timezone.now():
        raise RequestActionError("“Changes since” is in the future: nothing would be exported.")
    if portal_key_ring() is None:
        raise RequestActionError(
            "The portal has no SMART signing key yet: an admin creates it on the FHIR keys page."
        )
    export_request = _locked_request(export_request_id, actor)
    return _save(
        export_request,
        actor,
        kind=SourceKind.FHIR_BULK,
        options=fhir_bulk_options(
            base_url=base_url,
            client_id=client_id,
            group_id=group_id,
            since=fhir_instant(since) if since else "",
        ),
        credentials="",
    )


def _is_safe_fhir_url(url: str) -> bool:
    """https, or http to this machine: tokens and patient data cross this connection."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    )


def source_test_connection(*, export_request_id: int, actor, spool_dir) -> SourceConnection:
    """Ask the source what it can see. Slow I/O runs outside any transaction."""
    with transaction.atomic():
        export_request = _locked_request(export_request_id, actor)
        connection = SourceConnection.objects.get(request=export_request)
    try:
        with open_source(connection, spool_dir=spool_dir) as source:
            report = source.test_connection()
            sizes = dict(source.list_sizes()) if report.ok else {}
        ok, count, detail = report.ok, report.patient_count, report.detail
    except SourceError as exc:
        ok, count, detail, sizes = False, None, str(exc), {}
    # The result belongs to the source as it was tested: if it was changed meanwhile, the
    # update matches nothing and the changed source stays untested.
    recorded = SourceConnection.objects.filter(
        pk=connection.pk, updated_at=connection.updated_at
    ).update(
        last_tested_at=timezone.now(),
        last_test_ok=ok,
        last_test_patient_count=count,
        last_test_detail=detail[:300],
        last_test_list_sizes=sizes,
        api_calls_spent=0,
    )
    if not recorded:
        raise RequestActionError(
            "The data source was changed while it was being tested: test it again."
        )
    request_event_record(
        export_request,
        actor=actor,
        action="source.tested",
        details={"ok": ok, "patient_count": count},
    )
    warn_if_late(export_request.pk)
    connection.refresh_from_db()
    return connection
