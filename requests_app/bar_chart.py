"""A horizontal bar chart drawn on the server (templates/requests_app/_bar_chart.html)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WIDTH = 460
LABEL_GUTTER = 210
COUNT_GUTTER = 40
ROW = 24
BAR = 16


@dataclass(frozen=True)
class BarRow:
    key: str
    label: str
    count: int
    y: float
    width: float
    text_y: float


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    bar_left: int
    rows: list[BarRow]

    @property
    def total(self) -> int:
        return sum(row.count for row in self.rows)

    @property
    def count_x(self) -> int:
        return WIDTH - COUNT_GUTTER + 6


def bar_chart(title: str, counts: Iterable[tuple[str, str, int]]) -> BarChart:
    """One bar per ``(key, label, count)``, scaled to the largest count. ``key`` becomes a CSS
    class so each status or timeline state keeps its colour."""
    counts = list(counts)
    longest = max((count for *_, count in counts), default=0) or 1
    span = WIDTH - LABEL_GUTTER - COUNT_GUTTER
    rows = [
        BarRow(
            key=key,
            label=label,
            count=count,
            y=i * ROW + (ROW - BAR) / 2,
            width=round(span * count / longest, 1),
            text_y=i * ROW + ROW / 2 + 4,
        )
        for i, (key, label, count) in enumerate(counts)
    ]
    return BarChart(
        title=title, width=WIDTH, height=len(rows) * ROW, bar_left=LABEL_GUTTER, rows=rows
    )
