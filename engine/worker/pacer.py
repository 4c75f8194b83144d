"""Open-loop send schedule on a timerfd.

Ping k is due at ``start + k * interval`` and is sent whether or not earlier
pongs came back (no coordinated omission); a late tick sends every overdue
ping at once and the lateness is recorded as send lag, never skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ipc.timerfd import TimerFd


def phased_start(earliest_ns: int, interval_ns: int, phase_ns: int) -> int:
    """The first instant ≥ earliest that is ≡ phase (mod interval) on the monotonic clock: workers that start
    at different times still send on one shared grid, each at its own offset."""
    if interval_ns <= 0:
        return earliest_ns
    return earliest_ns + (phase_ns - earliest_ns) % interval_ns


class Pacer:
    """Calls ``fire(k, due_ns)`` for k = 0..count-1 at ``start_ns + k * interval_ns``."""

    def __init__(self, start_ns: int, interval_ns: int, count: int, fire: Callable[[int, int], None]) -> None:
        self._start = start_ns
        self._interval = interval_ns
        self._count = count
        self._fire = fire
        self._next = 0
        self._loop = asyncio.get_running_loop()
        self._timer = TimerFd()
        self.done: asyncio.Future[None] = self._loop.create_future()

    def start(self) -> None:
        """One periodic timer for the whole schedule: no system call to re-arm it between two sends."""
        if self._count <= 0:
            self._finish()
            return
        self._loop.add_reader(self._timer.fd, self._tick)
        self._timer.arm_at(self._start, self._interval if self._count > 1 else 0)

    def stop(self) -> None:
        """Stop early (Ctrl-C or a fatal error); pings not yet sent are never sent."""
        self._finish()

    @property
    def next_due(self) -> int | None:
        """When the next ping is due (perf ns); None once the schedule is over."""
        if self._next >= self._count or self.done.done():
            return None
        return self._start + self._next * self._interval

    def _tick(self) -> None:
        self._timer.clear()
        now = time.perf_counter_ns()
        while self._next < self._count and not self.done.done():
            due = self._start + self._next * self._interval
            if due > now:
                break
            k = self._next
            self._next += 1
            self._fire(k, due)
        if self._next >= self._count:
            self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self._loop.remove_reader(self._timer.fd)
            self._timer.close()
            self.done.set_result(None)
