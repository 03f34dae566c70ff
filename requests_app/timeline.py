"""The 4-8 week promise: when the clock starts, and whether a request is on track."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

STANDARD_WINDOW = timedelta(weeks=4)
PROMISED_WINDOW = timedelta(weeks=8)


class TimelineState(enum.StrEnum):
    NOT_STARTED = "not_started"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    DELIVERED_ON_TIME = "delivered_on_time"
    DELIVERED_LATE = "delivered_late"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Timeline:
    """A request's clock: started at ``ready_at``, stopped at delivery or cancellation.

    An extension moves both marks: the 4-week standard and the 8-week promise.
    """

    ready_at: datetime | None
    extension: timedelta
    stopped_at: datetime | None
    delivered: bool

    @property
    def standard_due(self) -> datetime | None:
        return None if self.ready_at is None else self.ready_at + STANDARD_WINDOW + self.extension

    @property
    def promised_due(self) -> datetime | None:
        return None if self.ready_at is None else self.ready_at + PROMISED_WINDOW + self.extension

    def state(self, now: datetime) -> TimelineState:
        if self.ready_at is None:
            return TimelineState.NOT_STARTED
        if self.stopped_at is not None:
            if not self.delivered:
                return TimelineState.STOPPED
            on_time = self.stopped_at < self.promised_due
            return TimelineState.DELIVERED_ON_TIME if on_time else TimelineState.DELIVERED_LATE
        if now < self.standard_due:
            return TimelineState.ON_TRACK
        if now < self.promised_due:
            return TimelineState.AT_RISK
        return TimelineState.OVERDUE

    def days_left(self, now: datetime) -> int | None:
        """Whole days until the promised date (negative once overdue)."""
        if self.promised_due is None or self.stopped_at is not None:
            return None
        return (self.promised_due - now).days
