"""Statistics of one platform's run, from raw arrays (exact) and HDR histograms (percentiles).

Pure functions on numpy arrays in ns; results in ms. Definitions are docs/ARCHITECTURE.md's.
A run's arrays are the parent's largest memory: each function here makes at
most one full-length temporary, and the std works a chunk at a time.
"""

from __future__ import annotations

import math

import numpy as np
from hdrh.histogram import HdrHistogram

NS_PER_MS = 1e6
PERCENTILES = (50.0, 95.0, 99.0, 99.9)
_CHUNK = 65536


def hdr_percentiles_ms(
    hist: HdrHistogram,
    percentiles: tuple[float, ...] = PERCENTILES,
    bounds: tuple[float | None, float | None] = (None, None),
    unit_ns: int = 1000,
) -> dict[float, float | None]:
    """Percentiles from a histogram in ``unit_ns`` units (µs by default), in ms; None when it is empty.

    A histogram answers with a bucket's edge, which can lie past every sample
    (p99.9 above max); ``bounds``, the exact min and max in ms, clamp it back.
    """
    if hist.get_total_count() == 0:
        return dict.fromkeys(percentiles)
    low, high = (-math.inf if bounds[0] is None else bounds[0]), (math.inf if bounds[1] is None else bounds[1])
    return {p: min(max(hist.get_value_at_percentile(p) * unit_ns / NS_PER_MS, low), high) for p in percentiles}


def jitter_mean_abs_diff(rtt_ns: np.ndarray) -> float | None:
    """The original's jitter: mean |RTTᵢ − RTTᵢ₋₁| over consecutive received pings, ms."""
    if len(rtt_ns) < 2:
        return None
    steps = np.diff(rtt_ns)
    return float(np.abs(steps, out=steps).mean(dtype=np.float64)) / NS_PER_MS


def jitter_rfc3550(transit_ns: np.ndarray) -> float | None:
    """RFC 3550 §6.4.1 interarrival jitter: J += (|D| − J)/16, D = transit difference, ms.

    The round trip is the transit here: both of its stamps are on the client's
    clock, so no offset between the two hosts enters it.
    """
    if len(transit_ns) < 2:
        return None
    steps = np.diff(transit_ns)
    np.abs(steps, out=steps)
    j = 0.0
    for start in range(0, len(steps), _CHUNK):
        for d in steps[start : start + _CHUNK].tolist():
            j += (d - j) / 16.0
    return j / NS_PER_MS


def describe_ms(values_ns: np.ndarray) -> dict[str, float | None]:
    """Exact mean/median/min/max/std (sample std, ddof=1) in ms."""
    if len(values_ns) == 0:
        return dict.fromkeys(("mean", "median", "min", "max", "std"))
    mean = float(values_ns.mean(dtype=np.float64))
    return {
        "mean": mean / NS_PER_MS,
        "median": float(np.median(values_ns)) / NS_PER_MS,
        "min": float(values_ns.min()) / NS_PER_MS,
        "max": float(values_ns.max()) / NS_PER_MS,
        "std": _sample_std(values_ns, mean) / NS_PER_MS,
    }


def _sample_std(values: np.ndarray, mean: float) -> float:
    """ddof=1, summed a chunk at a time: np.std's full-length temporary would be the run's peak memory."""
    if len(values) < 2:
        return 0.0
    squares = 0.0
    for start in range(0, len(values), _CHUNK):
        d = values[start : start + _CHUNK] - mean
        squares += float(np.dot(d, d))
    return math.sqrt(squares / (len(values) - 1))


def loss_rate(lost: int, total: int) -> float:
    return lost / total if total else 0.0
