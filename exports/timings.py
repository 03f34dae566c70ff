"""Time spent in each stage of an export, for the benchmark (``exports.benchmark``).

The export's steps take an optional ``StageTimings``; given none, they time nothing and their
hot paths are exactly what they would be without it. Timings are plain data: a worker process
records its batch's and sends them back with the batch's result, where they are merged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import wraps
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


@dataclass
class StageTotals:
    """Wall-clock seconds spent in a stage, the CPU-seconds of the process that recorded it
    (user and system), and the records and bytes it handled (``largest``: the most bytes of
    one record, where records are sized)."""

    seconds: float = 0.0
    records: int = 0
    bytes: int = 0
    largest: int = 0
    cpu: float = 0.0

    def add(self, other: StageTotals) -> None:
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.records += other.records
        self.bytes += other.bytes
        self.largest = max(self.largest, other.largest)


@dataclass
class StageTimings:
    """Totals per stage name, in the order stages were first recorded."""

    stages: dict[str, StageTotals] = field(default_factory=dict)

    def totals(self, stage: str) -> StageTotals:
        return self.stages.setdefault(stage, StageTotals())

    @contextmanager
    def measure(self, stage: str) -> Iterator[StageTotals]:
        """Time the block into ``stage``; the block may add records and bytes to what it gets."""
        totals = self.totals(stage)
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield totals
        finally:
            totals.seconds += time.perf_counter() - started
            totals.cpu += time.process_time() - cpu_started

    def timed(
        self,
        stage: str,
        function: Callable[_P, _R],
        size_of: Callable[[_R], int] | None = None,
    ) -> Callable[_P, _R]:
        """``function``, each call timed into ``stage`` and counted as one record (and as
        ``size_of(result)`` bytes, when given)."""
        totals = self.totals(stage)

        @wraps(function)
        def timed_call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                result = function(*args, **kwargs)
            finally:
                totals.seconds += time.perf_counter() - started
                totals.cpu += time.process_time() - cpu_started
                totals.records += 1
            if size_of is not None:
                size = size_of(result)
                totals.bytes += size
                totals.largest = max(totals.largest, size)
            return result

        return timed_call

    def timed_iteration(
        self, stage: str, function: Callable[_P, Iterable[_T]]
    ) -> Callable[_P, Iterator[_T]]:
        """``function``, the making of each item it yields timed into ``stage`` (not counted
        as records): for work a caller's loop pulls piece by piece, such as a file's bytes
        that a source makes or downloads only as they are read."""
        totals = self.totals(stage)

        def timed_items(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[_T]:
            items: Iterator[_T] | None = None
            while True:
                started, cpu_started = time.perf_counter(), time.process_time()
                try:
                    if items is None:
                        items = iter(function(*args, **kwargs))
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    totals.seconds += time.perf_counter() - started
                    totals.cpu += time.process_time() - cpu_started
                yield item

        return timed_items

    def merge(self, other: StageTimings) -> None:
        for stage, totals in other.stages.items():
            self.totals(stage).add(totals)


def measured(timings: StageTimings | None, stage: str) -> AbstractContextManager[StageTotals]:
    """``timings.measure(stage)``, or a block that times nothing when there are no timings."""
    if timings is None:
        return nullcontext(StageTotals())
    return timings.measure(stage)
