"""DrChrono's request allowance: 500 requests per API application per hour, reset on the hour.

The allowance belongs to the API application, not to one process: the portal counts it in its
database for all its workers, a local export in its one process. The server's 429 stays the
final word; this budget keeps an extraction from spending the hour in a burst and lets it stop
politely (or wait a little) before DrChrono has to throttle it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..records import SourceAsksToWait

SECONDS_PER_HOUR = 3600


class Clock(Protocol):
    """Wall time and sleeping, injectable so tests never really wait."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class RequestBudgetExhausted(SourceAsksToWait):
    """This hour's requests are spent; ``retry_after`` seconds until the next hour starts."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"DrChrono request budget for this hour is spent; retry in {retry_after:.0f} s",
            retry_after=retry_after,
        )


class RequestBudget(Protocol):
    """Something that allows or refuses one more request to the API."""

    def spend(self) -> None: ...


class HourCounter(Protocol):
    """Where one hour's requests are counted: this process, or somewhere workers share."""

    def take(self, hour: int, limit: int) -> bool:
        """Count one more request in ``hour`` (hours since the epoch), unless ``limit`` are
        counted already; whether it was counted."""
        ...


class ProcessHourCounter:
    """Counts in this process: the current hour's requests, forgotten when the hour turns."""

    def __init__(self) -> None:
        self._hour: int | None = None
        self._spent = 0

    def take(self, hour: int, limit: int) -> bool:
        if hour != self._hour:
            self._hour, self._spent = hour, 0
        if self._spent >= limit:
            return False
        self._spent += 1
        return True


class FileHourCounter:
    """Counts in a small file (a local export's work folder), so a stopped run resumed in the
    same hour knows what the hour has already spent. One process counts at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def take(self, hour: int, limit: int) -> bool:
        try:
            counted = json.loads(self.path.read_text(encoding="utf-8"))
            spent = int(counted["spent"]) if counted["hour"] == hour else 0
        except (OSError, ValueError, KeyError, TypeError):
            spent = 0
        if spent >= limit:
            return False
        temp = self.path.with_name(self.path.name + ".new")
        temp.write_text(json.dumps({"hour": hour, "spent": spent + 1}), encoding="utf-8")
        os.replace(temp, self.path)
        return True


class HourlyRequestBudget:
    """At most ``per_hour`` requests in each clock hour (the top of the hour resets it),
    counted by ``counter`` (by default in this process).

    When the hour's requests are spent, waits for the next hour if that is at most
    ``max_wait`` seconds away, else raises ``RequestBudgetExhausted`` so the caller (a Celery
    task over a resumable spool) can retry later instead of holding a worker for an hour. The
    portal's workers never wait (``max_wait=0``); the command-line export, which has nothing
    else to do, waits as long as it takes (``max_wait=inf``) and tells ``on_wait`` until when.
    """

    def __init__(
        self,
        per_hour: int = 500,
        *,
        clock: Clock,
        max_wait: float = 300.0,
        counter: HourCounter | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if per_hour < 1:
            raise ValueError("per_hour must be at least 1")
        self.per_hour = per_hour
        self.max_wait = max_wait
        self._clock = clock
        self._counter = counter or ProcessHourCounter()
        self._on_wait = on_wait

    def spend(self) -> None:
        while True:
            now = self._clock.time()
            hour = int(now // SECONDS_PER_HOUR)
            if self._counter.take(hour, self.per_hour):
                return
            wait = (hour + 1) * SECONDS_PER_HOUR - now
            if wait > self.max_wait:
                raise RequestBudgetExhausted(retry_after=wait)
            if self._on_wait is not None:
                self._on_wait(now + wait)
            self._clock.sleep(wait)
