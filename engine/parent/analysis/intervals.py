"""RTT histograms per second of arrival, for an HdrHistogram interval log.

A pong counts in the wall-clock second (Unix, whole) in which it arrived, so
every platform's intervals line up. They are cut from the run's raw columns
once it is over, one histogram at a time: recording them live as well would
cost the pipe-reading thread a third more per sample (measured: 216k -> 156k
samples/s) for a log that is only written at the end.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.parent.analysis.hdr import new_histogram, record_ns

NS_PER_S = 1_000_000_000


class Interval(NamedTuple):
    """One second's RTTs: its Unix second, how many, the largest (µs) and the standard encoding."""

    second: int
    count: int
    max_us: int
    encoded: str


def per_second(t4_wall_ns: np.ndarray, rtt_ns: np.ndarray) -> list[Interval]:
    """Every second that saw a pong, in time order, with the RTTs of the pongs that arrived in it."""
    if not len(t4_wall_ns):
        return []
    seconds = t4_wall_ns // NS_PER_S
    order = np.argsort(seconds, kind="stable")  # pongs arrive nearly in order; a late one still finds its second
    seconds = seconds[order]
    starts = np.flatnonzero(np.r_[True, seconds[1:] != seconds[:-1]]).tolist()
    out = []
    for a, b in zip(starts, [*starts[1:], len(seconds)]):
        hist = new_histogram()
        record_ns(hist, rtt_ns[order[a:b]])
        if hist.get_total_count():
            out.append(Interval(int(seconds[a]), hist.get_total_count(), hist.get_max_value(), hist.encode().decode()))
    return out
