"""The agent's clock against ours: the NTP on-wire offset estimate θ̂ and the clock modes.

The worker's anchors (``ipc.clocks.anchors``) put t1/t4 on the wall clock;
here the parent estimates how far the agent's wall clock is from ours.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

from ipc.clocks.anchors import boot_id

#: θ̂ is the median θ of this many lowest-delay exchanges (the NTP clock filter keeps 8).
CLOCK_FILTER_SAMPLES = 8


class ClockMode(enum.StrEnum):
    """Which offset θ splits the network RTT into one-way estimates."""

    SAME_HOST = "same-host"  # θ = 0, proven by equal kernel boot ids
    SYNCED = "synced"  # θ = 0, the user states both clocks are NTP/PTP disciplined
    ESTIMATE = "estimate"  # θ = θ̂, assumes the minimum-delay exchange was symmetric


class OffsetEstimate(NamedTuple):
    theta_ns: float  # agent clock minus client clock
    uncertainty_ns: float  # half the minimum network delay
    samples: int


def estimate_offset(t1w: np.ndarray, t2: np.ndarray, t3: np.ndarray, t4w: np.ndarray) -> OffsetEstimate | None:
    """RFC 5905 on-wire offset with a clock filter over the lowest-delay exchanges."""
    if len(t1w) == 0:
        return None
    t1w, t2, t3, t4w = (np.asarray(a, dtype=np.int64) for a in (t1w, t2, t3, t4w))
    delay = exchange_delay(t1w, t2, t3, t4w)
    best = lowest_indices(delay, CLOCK_FILTER_SAMPLES)
    theta = exchange_offset(t1w[best], t2[best], t3[best], t4w[best])
    return OffsetEstimate(float(np.median(theta)), float(delay[best[0]]) / 2.0, len(t1w))


# Differences in int64 first: epoch ns as float64 would round to 256 ns.
def exchange_delay(t1w: np.ndarray, t2: np.ndarray, t3: np.ndarray, t4w: np.ndarray) -> np.ndarray:
    """Each exchange's round-trip delay without the agent's time (RFC 5905 δ), ns."""
    return (t4w - t1w) - (t3 - t2)


def exchange_offset(t1w: np.ndarray, t2: np.ndarray, t3: np.ndarray, t4w: np.ndarray) -> np.ndarray:
    """Each exchange's offset θ (agent − client), ns."""
    return ((t2 - t1w) + (t3 - t4w)).astype(np.float64) / 2.0


def lowest_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest values, ties in index order: a stable argsort's first ``k``,
    without sorting (or holding a sort's index array for) every value."""
    if len(values) <= k:
        return np.argsort(values, kind="stable")
    threshold = np.partition(values, k - 1)[k - 1]
    candidates = np.flatnonzero(values <= threshold)
    return candidates[np.argsort(values[candidates], kind="stable")][:k]


#: ``auto`` takes two hosts as synced when their clock bounds add up to at most this (docs/metrics.md).
AUTO_SYNCED_BOUND_MS = 1.0


def choose_mode(requested: str, agent_boot_id: str | None, bound_ms: float | None = None) -> ClockMode:
    """``auto``: same-host when the agent reports our boot id; else synced when both hosts' clock
    disciplines bound their clocks to within ``AUTO_SYNCED_BOUND_MS`` together; else estimate."""
    if requested != "auto":
        return ClockMode(requested)
    if agent_boot_id and agent_boot_id == boot_id():
        return ClockMode.SAME_HOST
    if bound_ms is not None and bound_ms <= AUTO_SYNCED_BOUND_MS:
        return ClockMode.SYNCED
    return ClockMode.ESTIMATE


def hosts_bound_ms(runner: list[dict | None], agent: list[dict | None]) -> float | None:
    """How far the two clocks may be apart: each host's largest bound over its readings, added; None
    when a host gave no reading or one without a bound (a bound that fails once cannot be trusted at all)."""
    total = 0.0
    for readings in (runner, agent):
        bounds = [r.get("bound_ms") if isinstance(r, dict) else None for r in readings]
        if not bounds or any(not isinstance(b, (int, float)) or b < 0 for b in bounds):
            return None
        total += max(bounds)
    return total
