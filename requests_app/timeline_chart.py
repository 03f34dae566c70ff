"""The request page's timeline drawing: each status's span as a bar, against the 4- and 8-week
marks. Geometry is computed here; templates/requests_app/_timeline_chart.html draws it as SVG
with a text equivalent beside it.

Labels never overlap and are never cut: the status gutter is as wide as the longest status
label, and the marks' labels are laid out in as many lanes above the plot as their dates need.
Text widths are estimated from the character count at a width per character generous for the
11px sans-serif the page uses (tests/browser checks the estimate against the drawn text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import CLOSED, ExportRequest, RequestEvent, Status

WIDTH = 760
RIGHT_PAD = 16
ROW = 24
BAR = 14
BOTTOM = 26
#: estimated widths of one character of label text, in px (11px text; mark labels are bold)
CHAR_WIDTH = 6.6
BOLD_CHAR_WIDTH = 7.2
LANE = 13  # vertical distance between two lanes of mark labels
LABEL_GAP = 6  # least horizontal space between two mark labels in one lane
EDGE = 2  # least space between a label and the drawing's edge


def text_width(text: str, *, bold: bool = False) -> float:
    return len(text) * (BOLD_CHAR_WIDTH if bold else CHAR_WIDTH)


#: wide enough for the longest status label, right-aligned 8px before the plot
LABEL_GUTTER = round(max(text_width(label) for _, label in Status.choices) + 8 + EDGE + 4)


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
    label_x: float  # where the label starts (text-anchor start)
    label_y: float  # its baseline

    @property
    def label_right(self) -> float:
        return self.label_x + text_width(self.label, bold=True)


@dataclass(frozen=True)
class TimelineChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    marks_bottom: float  # where the marks' lines start, below their labels
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

    marks = _laid_out_marks([(key, label, at, x(at)) for key, label, at in mark_times])
    lanes = 1 + max((round((m.label_y - 12) / LANE) for m in marks), default=0)
    marks_bottom = 12 + (lanes - 1) * LANE + 6
    top = marks_bottom + 10
    bars = []
    for row, span in enumerate(spans):
        y = top + row * ROW + (ROW - BAR) / 2
        bars.append(
            Bar(
                span=span,
                x=x(span.start),
                y=y,
                width=max(x(span.end) - x(span.start), 3.0),
                label_y=y + BAR - 3,
            )
        )
    axis_y = top + max(len(spans), 1) * ROW + 4
    return TimelineChart(
        width=WIDTH,
        height=int(axis_y + BOTTOM),
        plot_left=plot_left,
        plot_right=plot_right,
        marks_bottom=marks_bottom,
        axis_y=axis_y,
        start=start,
        end=end,
        bars=bars,
        marks=marks,
    )


def _laid_out_marks(placed: list[tuple[str, str, datetime, float]]) -> list[Mark]:
    """Each mark's label centred on its line where the edges allow, in the first lane where it
    clears the labels already there (marks taken left to right)."""
    lane_ends: list[float] = []  # the right edge of the last label in each lane
    marks = []
    for key, label, at, x in sorted(placed, key=lambda mark: mark[3]):
        width = text_width(label, bold=True)
        left = min(max(x - width / 2, EDGE), WIDTH - EDGE - width)
        lane = next(
            (n for n, end in enumerate(lane_ends) if end + LABEL_GAP <= left), len(lane_ends)
        )
        if lane == len(lane_ends):
            lane_ends.append(left + width)
        else:
            lane_ends[lane] = left + width
        marks.append(Mark(key, label, at, x, round(left, 1), 12 + lane * LANE))
    return marks


def _week_label(weeks: int, extension_days: int) -> str:
    return f"{weeks} weeks" + (f" + {extension_days} d" if extension_days else "")
