"""The request page's timeline drawing: each status's span as a bar, against the 4- and 8-week
marks. Geometry is computed here; templates/requests_app/_timeline_chart.html draws it as SVG
with a text equivalent beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import CLOSED, ExportRequest, RequestEvent, Status

WIDTH = 760
LABEL_GUTTER = 190
RIGHT_PAD = 16
TOP = 34
ROW = 24
BAR = 14
BOTTOM = 26


@dataclass(frozen=True)
class StatusSpan:
    status: str
    label: str
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Bar:
    span: StatusSpan
    x: float
    y: float
    width: float
    label_y: float


@dataclass(frozen=True)
class Mark:
    key: str
    label: str
    at: datetime
    x: float


@dataclass(frozen=True)
class TimelineChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    axis_y: float
    start: datetime
    end: datetime
    bars: list[Bar]
    marks: list[Mark]


#: Marks other apps draw on the chart (key, label, when), e.g. the export plan's finish;
#: registered at start-up so this module depends on none of them.
MarkProvider = Callable[[ExportRequest, datetime], Iterable[tuple[str, str, datetime]]]
_MARK_PROVIDERS: list[MarkProvider] = []


def register_marks(provider: MarkProvider) -> None:
    if provider not in _MARK_PROVIDERS:
        _MARK_PROVIDERS.append(provider)


def status_spans(events: Iterable[RequestEvent], now: datetime) -> list[StatusSpan]:
    """Consecutive periods in one status, from the events (events that keep the status, such as
    an extension, do not split a span). Open spans run to ``now``; closed ones are instants."""
    labels = dict(Status.choices)
    spans: list[StatusSpan] = []
    current: str | None = None
    started: datetime | None = None
    for event in events:
        if not event.to_status or event.to_status == current:
            continue
        if current is not None:
            spans.append(StatusSpan(current, labels[current], started, event.created_at))
        current, started = event.to_status, event.created_at
    if current is not None:
        end = started if current in CLOSED else max(now, started)
        spans.append(StatusSpan(current, labels[current], started, end))
    return spans


def timeline_chart(
    export_request: ExportRequest, events: Iterable[RequestEvent], now: datetime
) -> TimelineChart:
    spans = status_spans(events, now)
    timeline = export_request.timeline
    mark_times = [
        ("clock", "Clock starts", timeline.ready_at),
        ("standard", _week_label(4, export_request.extension_days), timeline.standard_due),
        ("promised", _week_label(8, export_request.extension_days), timeline.promised_due),
    ]
    mark_times = [(key, label, at) for key, label, at in mark_times if at is not None]
    if export_request.status not in CLOSED:
        mark_times.append(("now", "Now", now))
    for provider in _MARK_PROVIDERS:
        mark_times.extend(provider(export_request, now))

    instants = [s.start for s in spans] + [s.end for s in spans] + [at for *_, at in mark_times]
    start = min(instants, default=now)
    end = max(instants, default=now)
    # A little room after the last instant so its label and bar are not clipped.
    end = end + max((end - start) * 0.04, timedelta(hours=12))

    plot_left, plot_right = LABEL_GUTTER, WIDTH - RIGHT_PAD
    scale = (plot_right - plot_left) / (end - start).total_seconds()

    def x(at: datetime) -> float:
        return round(plot_left + (at - start).total_seconds() * scale, 1)

    bars = []
    for row, span in enumerate(spans):
        y = TOP + row * ROW + (ROW - BAR) / 2
        bars.append(
            Bar(
                span=span,
                x=x(span.start),
                y=y,
                width=max(x(span.end) - x(span.start), 3.0),
                label_y=y + BAR - 3,
            )
        )
    axis_y = TOP + max(len(spans), 1) * ROW + 4
    return TimelineChart(
        width=WIDTH,
        height=int(axis_y + BOTTOM),
        plot_left=plot_left,
        plot_right=plot_right,
        axis_y=axis_y,
        start=start,
        end=end,
        bars=bars,
        marks=[Mark(key, label, at, x(at)) for key, label, at in mark_times],
    )


def _week_label(weeks: int, extension_days: int) -> str:
    return f"{weeks} weeks" + (f" + {extension_days} d" if extension_days else "")
