"""Agent stamps that cannot be true, found before any of them becomes a one-way or processing value.

The runner's own stamps (t1, t4) give the RTT whatever the agent says. The
agent's (t2, t3) are another program's word: processing below zero or longer
than the round trip it sits inside is impossible, and so is an agent instant
outside the run itself (before the first ping left, after the last pong came
back, on the agent's clock read through θ̂ with its uncertainty, give or take
a second). Such a pong
keeps its RTT; its agent-side values become unavailable. θ̂ is estimated from
the plausible exchanges only, since one forged stamp could otherwise win the
clock filter.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.parent.analysis.offset import CLOCK_FILTER_SAMPLES, OffsetEstimate, estimate_offset, lowest_indices

_NEVER_LOWEST = np.iinfo(np.int64).max
#: How far outside the run an agent instant may fall (beyond θ̂'s uncertainty): far more than θ̂'s own
#: error or a disciplined clock's drift over a long run, far less than a stamp in the wrong unit or era.
WINDOW_SLACK_NS = 1_000_000_000


class Screened(NamedTuple):
    implausible: np.ndarray  # bool per sample: agent-side fields unavailable
    offset: OffsetEstimate | None  # θ̂ from the plausible exchanges (None without agent instants)


def impossible_processing(processing: np.ndarray, network: np.ndarray) -> np.ndarray:
    """Processing below zero, or above the RTT (network = RTT − processing below zero)."""
    return (processing < 0) | (network < 0)


def screen(a: dict[str, np.ndarray], network: np.ndarray, wall_minus_perf: int, one_way: bool) -> Screened:
    """Which samples' agent stamps to distrust, and θ̂ without them."""
    bad = impossible_processing(a["processing_ns"], network)
    if not one_way or bad.all():
        return Screened(bad, None)
    offset = _estimate(a, network, wall_minus_perf, bad)
    # The run's window on the agent's clock, widened by θ̂'s uncertainty; t3 = t2 + processing.
    shift = wall_minus_perf + round(offset.theta_ns)
    slack = int(offset.uncertainty_ns) + WINDOW_SLACK_NS
    first, last = int(a["t1"].min()) + shift - slack, int(a["t4"].max()) + shift + slack
    outside = ~bad & ((a["t2"] < first) | (a["t2"] + a["processing_ns"] > last))
    if outside.any():
        bad |= outside
        offset = _estimate(a, network, wall_minus_perf, bad) if not bad.all() else None
    return Screened(bad, offset)


def _estimate(a: dict[str, np.ndarray], network: np.ndarray, wall_minus_perf: int, bad: np.ndarray) -> OffsetEstimate:
    """θ̂ from the lowest-delay plausible exchanges; network RTT is the exchange delay, so only those few are rebuilt."""
    delays = np.where(bad, _NEVER_LOWEST, network) if bad.any() else network
    best = lowest_indices(delays, CLOCK_FILTER_SAMPLES)
    best = best[~bad[best]]
    t1w, t2 = a["t1"][best] + wall_minus_perf, a["t2"][best]
    t3, t4w = t2 + a["processing_ns"][best], a["t4"][best] + wall_minus_perf
    return estimate_offset(t1w, t2, t3, t4w)._replace(samples=int(len(network) - bad.sum()))
