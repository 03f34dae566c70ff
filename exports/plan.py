"""The plan of an export: before Start, and again while it runs.

Every plan says where its estimated finish lands against the request's 4- and 8-week marks;
how the finish is estimated depends on the source.

DrChrono: from the sizes of the practice's lists (read by the connection test, one cheap call
each) the plan estimates the API calls (what DrChrono's hourly allowance counts), the file
downloads (signed URLs, not counted) and the wall time at the configured allowance. While the
export runs the estimate is recomputed from the API calls actually spent.

FHIR Bulk Data: no allowance, and a handful of requests (kick-off, status polls, one download
per output file, delete). What the EHR takes to prepare the export is unknown in advance, so
the plan counts the longest the portal waits in one run (``FHIR_BULK_TOTAL_WAIT_SECONDS``),
then the patients the connection test counted at the measured processing rate.

A plan that misses the promised date warns the data team member who claimed the request and
the account manager, once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from exports.models import DrChronoRequestHour, ExportJob, SourceConnection, SourceKind
from exports.sources.drchrono.budget import SECONDS_PER_HOUR
from exports.sources.drchrono.cost import reading_cost
from exports.sources.fhir_bulk.placement import EXPORT_TYPES
from exports.sources.registry import includes_source_ccda
from outbox.sending import queue_email
from requests_app.models import ExportRequest, Status
from requests_app.services import request_event_record

logger = logging.getLogger(__name__)

#: the request is being exported: the plan counts down from what has been spent
RUNNING = (Status.EXTRACTING, Status.PACKAGING)
#: seconds the pipeline spends per patient once the data is at hand (read, C-CDA, files,
#: workbook, archive): docs/performance.md, 10,000 patients end to end in 104 to 118 s
PROCESSING_SECONDS_PER_PATIENT = 0.012


@dataclass(frozen=True, kw_only=True)
class ExportPlan:
    """Any source's estimate: when the export finishes, against the request's marks."""

    source: ClassVar[str]
    finish: datetime
    standard_due: datetime | None
    promised_due: datetime | None
    is_running: bool

    @property
    def misses_standard(self) -> bool:
        return self.standard_due is not None and self.finish > self.standard_due

    @property
    def misses_promise(self) -> bool:
        return self.promised_due is not None and self.finish > self.promised_due


@dataclass(frozen=True, kw_only=True)
class DrChronoPlan(ExportPlan):
    """The estimate for one request's DrChrono export, and where it stands this hour."""

    source: ClassVar[str] = SourceKind.DRCHRONO
    api_calls: int  # every API call the export needs, source C-CDAs included
    source_ccda_calls: int
    #: lists whose size DrChrono did not say (or refused): counted as one page each
    unknown_lists: tuple[str, ...]
    file_downloads: int
    per_hour: int
    api_calls_spent: int
    used_this_hour: int

    @property
    def api_calls_left(self) -> int:
        return max(self.api_calls - self.api_calls_spent, 0)

    @property
    def left_this_hour(self) -> int:
        return max(self.per_hour - self.used_this_hour, 0)

    @property
    def hours_of_allowance(self) -> float:
        return self.api_calls / self.per_hour


@dataclass(frozen=True, kw_only=True)
class FhirBulkPlan(ExportPlan):
    """The estimate for one request's FHIR Bulk Data export."""

    source: ClassVar[str] = SourceKind.FHIR_BULK
    patients: int
    #: one per resource type asked for; the EHR may split a large type over several
    output_files: int
    #: status polls in the longest wait, at the poll interval (the EHR's Retry-After may differ)
    polls_at_most: int
    wait_seconds: int
    processing_seconds: float

    @property
    def requests(self) -> int:
        """Kick-off, polls, downloads and the job's deletion (tokens and attachments aside)."""
        return 1 + self.polls_at_most + self.output_files + 1

    @property
    def seconds_per_patient(self) -> float:
        return PROCESSING_SECONDS_PER_PATIENT


def plan_for(export_request: ExportRequest, now: datetime | None = None) -> ExportPlan | None:
    """The request's plan, or None before its source's connection test has learnt enough
    (and for sources without a plan: the demo practice)."""
    now = now or timezone.now()
    connection = SourceConnection.objects.filter(request=export_request).first()
    planner = _PLANNERS.get(connection.kind) if connection is not None else None
    return None if planner is None else planner(export_request, connection, now)


def _drchrono_plan(
    export_request: ExportRequest, connection: SourceConnection, now: datetime
) -> DrChronoPlan | None:
    if not connection.last_test_list_sizes:
        return None
    cost = reading_cost(
        connection.last_test_list_sizes, include_source_ccda=includes_source_ccda(connection)
    )
    per_hour = settings.DRCHRONO_REQUESTS_PER_HOUR
    running = export_request.status in RUNNING
    spent = connection.api_calls_spent if running else 0
    used = calls_this_hour(connection.options.get("client_id", ""), now)
    calls_left = max(cost.api_calls - spent, 0)
    # Files come as the patients are read, after the lists: what is left of them shrinks
    # with what is left of the calls.
    files_left = cost.file_downloads * (calls_left / cost.api_calls if cost.api_calls else 0)
    timeline = export_request.timeline
    return DrChronoPlan(
        api_calls=cost.api_calls,
        source_ccda_calls=cost.source_ccda_calls,
        unknown_lists=tuple(
            name for name, size in connection.last_test_list_sizes.items() if size is None
        ),
        file_downloads=cost.file_downloads,
        per_hour=per_hour,
        api_calls_spent=spent,
        used_this_hour=used,
        finish=finish_time(
            now,
            calls_left=calls_left,
            per_hour=per_hour,
            left_this_hour=max(per_hour - used, 0),
            files_left=files_left,
            files_per_second=settings.DRCHRONO_FILE_DOWNLOADS_PER_SECOND,
        ),
        standard_due=timeline.standard_due,
        promised_due=timeline.promised_due,
        is_running=running,
    )


def _fhir_bulk_plan(
    export_request: ExportRequest, connection: SourceConnection, now: datetime
) -> FhirBulkPlan | None:
    """From the start of this run while it runs (the wait is not spent again), else from now."""
    if connection.last_test_patient_count is None:  # not tested, or the test failed
        return None
    running = export_request.status in RUNNING
    job = ExportJob.objects.filter(request=export_request).live().first() if running else None
    start = job.run_started_at if job is not None else now
    wait = settings.FHIR_BULK_TOTAL_WAIT_SECONDS
    patients = connection.last_test_patient_count
    processing = patients * PROCESSING_SECONDS_PER_PATIENT
    timeline = export_request.timeline
    return FhirBulkPlan(
        patients=patients,
        output_files=len(EXPORT_TYPES),
        polls_at_most=math.ceil(wait / settings.FHIR_BULK_POLL_SECONDS),
        wait_seconds=wait,
        processing_seconds=processing,
        finish=start + timedelta(seconds=wait + processing),
        standard_due=timeline.standard_due,
        promised_due=timeline.promised_due,
        is_running=running,
    )


_PLANNERS = {SourceKind.DRCHRONO: _drchrono_plan, SourceKind.FHIR_BULK: _fhir_bulk_plan}


def finish_time(
    now: datetime,
    *,
    calls_left: int,
    per_hour: int,
    left_this_hour: int,
    files_left: float,
    files_per_second: float,
) -> datetime:
    """When an export with ``calls_left`` API calls and ``files_left`` downloads to go ends:
    the calls this hour's allowance still covers go now, each further ``per_hour`` takes an
    hour from the top of the next one; downloads add their time at the file throttle."""
    api_done = now
    beyond = calls_left - left_this_hour
    if beyond > 0:
        next_hour = (math.floor(now.timestamp() / SECONDS_PER_HOUR) + 1) * SECONDS_PER_HOUR
        hours = beyond / per_hour
        api_done = datetime.fromtimestamp(next_hour + hours * SECONDS_PER_HOUR, tz=UTC)
    file_seconds = files_left / files_per_second if files_per_second > 0 else 0.0
    return api_done + timedelta(seconds=file_seconds)


def calls_this_hour(client_id: str, now: datetime) -> int:
    """The API calls the DrChrono application has made this clock hour, by every worker."""
    hour_start = datetime.fromtimestamp(
        math.floor(now.timestamp() / SECONDS_PER_HOUR) * SECONDS_PER_HOUR, tz=UTC
    )
    hour = DrChronoRequestHour.objects.filter(client_id=client_id, hour_start=hour_start).first()
    return hour.spent if hour else 0


def finish_marks(export_request: ExportRequest, now: datetime) -> list[tuple[str, str, datetime]]:
    """The plan's finish, as a mark on the request's timeline chart."""
    if export_request.status not in (Status.CLAIMED, *RUNNING):
        return []
    plan = plan_for(export_request, now)
    return [] if plan is None else [("plan", "Planned finish", plan.finish)]


def warn_if_late(export_request_id: int, now: datetime | None = None) -> bool:
    """Tell the claimer and the account manager, once, that the plan misses the promised
    date. Whether a warning went out."""
    export_request = ExportRequest.objects.select_related(
        "practice__account_manager", "claimed_by"
    ).get(pk=export_request_id)
    plan = plan_for(export_request, now)
    if plan is None or not plan.misses_promise:
        return False
    with transaction.atomic():
        warned = SourceConnection.objects.filter(
            request=export_request, plan_warned_at__isnull=True
        ).update(plan_warned_at=timezone.now())
        if not warned:
            return False
        _send_warning(export_request, plan)
    logger.warning("request %s: the export plan misses the promised date", export_request.pk)
    return True


def _send_warning(export_request: ExportRequest, plan: ExportPlan) -> None:
    """The warning email, queued with its event in the caller's transaction."""
    recipients = [export_request.practice.account_manager.email]
    if export_request.claimed_by:
        recipients.append(export_request.claimed_by.email)
    url = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "requests_app:detail", args=[export_request.pk]
    )
    context = {"r": export_request, "plan": plan, "url": url}
    subject = render_to_string("emails/plan_misses_promise.subject.txt", context).strip()
    body = render_to_string("emails/plan_misses_promise.txt", context)
    queue_email(
        kind="plan_misses_promise",
        subject=subject,
        body=body,
        recipients=[address for address in recipients if address],
    )
    request_event_record(
        export_request,
        actor=None,
        action="plan.misses_promise",
        details={"source": plan.source, "finish": plan.finish.isoformat()},
    )
