"""RTT histograms per second of arrival, for an HdrHistogram interval log.

A pong counts in the wall-clock second (Unix, whole) in which it arrived, so
every platform's intervals line up. Seconds stay open while pongs may still
come for them (samples reach the parent within a worker flush, 50 ms, of
arrival); older ones are encoded and their histograms dropped, so a long run
costs a few hundred bytes a second, not a histogram's ~140 KB of counts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hdrh.histogram import HdrHistogram

from engine.parent.hdr import new_histogram, record_ns

NS_PER_S = 1_000_000_000
#: A second closes once a pong arrives this many seconds after it.
CLOSE_AFTER_S = 2


class Interval(NamedTuple):
    """One second's RTTs: its Unix second, how many, the largest (µs) and the standard encoding."""

    second: int
    count: int
    max_us: int
    encoded: str


class IntervalHistograms:
    def __init__(self, wall_minus_perf_ns: int) -> None:
        self._shift = wall_minus_perf_ns
        self._open: dict[int, HdrHistogram] = {}
        self.closed: list[Interval] = []

    def record(self, t4_perf_ns: np.ndarray, rtt_ns: np.ndarray) -> None:
        """Pongs that arrived at ``t4`` (the worker's perf clock) after ``rtt``; both ns."""
        if not len(t4_perf_ns):
            return
        seconds = (t4_perf_ns + self._shift) // NS_PER_S
        for second in np.unique(seconds).tolist():
            hist = self._open.get(second)
            if hist is None:
                hist = self._open[second] = new_histogram()
            record_ns(hist, rtt_ns[seconds == second])
        newest = int(seconds.max())
        for second in [s for s in self._open if s < newest - CLOSE_AFTER_S]:
            self._close(second)

    def _close(self, second: int) -> None:
        hist = self._open.pop(second)
        if hist.get_total_count():
            self.closed.append(Interval(second, hist.get_total_count(), hist.get_max_value(), hist.encode().decode()))

    def finish(self) -> list[Interval]:
        """Every second, closed, in time order (a straggler's second may appear twice: readers add them)."""
        for second in sorted(self._open):
            self._close(second)
        self.closed.sort(key=lambda i: i.second)
        return self.closed
