"""DrChrono's request allowance: 500 requests per API application per hour, reset on the hour.

The allowance belongs to the API application, not to this process, so the server's 429 stays
the final word; this budget keeps one extraction from spending the hour in a burst and lets it
stop politely (or wait a little) before DrChrono has to throttle it.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..records import TransientSourceError

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


class RequestBudgetExhausted(TransientSourceError):
    """This hour's requests are spent; ``retry_after`` seconds until the next hour starts."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"DrChrono request budget for this hour is spent; retry in {retry_after:.0f} s"
        )
        self.retry_after = retry_after


class RequestBudget(Protocol):
    """Something that allows or refuses one more request to the API."""

    def spend(self) -> None: ...


class HourlyRequestBudget:
    """At most ``per_hour`` requests in each clock hour (the top of the hour resets it).

    When the hour's requests are spent, waits for the next hour if that is at most
    ``max_wait`` seconds away, else raises ``RequestBudgetExhausted`` so the caller (a Celery
    task over a resumable spool) can retry later instead of holding a worker for an hour.
    """

    def __init__(self, per_hour: int = 500, *, clock: Clock, max_wait: float = 300.0) -> None:
        if per_hour < 1:
            raise ValueError("per_hour must be at least 1")
        self.per_hour = per_hour
        self.max_wait = max_wait
        self._clock = clock
        self._hour: int | None = None
        self._spent = 0

    @property
    def spent(self) -> int:
        """Requests spent in the current hour."""
        self._roll_over(self._clock.time())
        return self._spent

    def spend(self) -> None:
        now = self._clock.time()
        self._roll_over(now)
        if self._spent >= self.per_hour:
            wait = (int(now // SECONDS_PER_HOUR) + 1) * SECONDS_PER_HOUR - now
            if wait > self.max_wait:
                raise RequestBudgetExhausted(retry_after=wait)
            self._clock.sleep(wait)
            self._roll_over(self._clock.time())
        self._spent += 1

    def _roll_over(self, now: float) -> None:
        hour = int(now // SECONDS_PER_HOUR)
        if hour != self._hour:
            self._hour = hour
            self._spent = 0
