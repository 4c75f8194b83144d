"""Statistics of one platform's run, from raw arrays (exact) and HDR histograms (percentiles).

Pure functions on numpy arrays in ns; results in ms. Definitions are DESIGN.md's.
"""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

NS_PER_MS = 1e6
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


def _ms(value_ns: float | None) -> float | None:
    return None if value_ns is None else float(value_ns) / NS_PER_MS


def hdr_percentiles_ms(hist: HdrHistogram, percentiles: tuple[float, ...] = PERCENTILES) -> dict[float, float | None]:
    """Percentiles from a µs histogram, in ms; None when it is empty."""
    if hist.get_total_count() == 0:
        return dict.fromkeys(percentiles)
    return {p: hist.get_value_at_percentile(p) / 1e3 for p in percentiles}


def jitter_mean_abs_diff(rtt_ns: np.ndarray) -> float | None:
    """The seed's jitter: mean |RTTᵢ − RTTᵢ₋₁| over consecutive received pings, ms."""
    if len(rtt_ns) < 2:
        return None
    return float(np.mean(np.abs(np.diff(rtt_ns.astype(np.float64))))) / NS_PER_MS


def jitter_rfc3550(transit_ns: np.ndarray) -> float | None:
    """RFC 3550 §6.4.1 interarrival jitter: J += (|D| − J)/16, D = transit difference, ms.

    The round trip is the transit here: both of its stamps are on the client's
    clock, so no offset between the two hosts enters it.
    """
    if len(transit_ns) < 2:
        return None
    j = 0.0
    for d in np.abs(np.diff(transit_ns.astype(np.float64))):
        j += (d - j) / 16.0
    return j / NS_PER_MS


def describe_ms(values_ns: np.ndarray) -> dict[str, float | None]:
    """Exact mean/median/min/max/std (sample std, ddof=1) in ms."""
    if len(values_ns) == 0:
        return dict.fromkeys(("mean", "median", "min", "max", "std"))
    v = values_ns.astype(np.float64)
    return {
        "mean": float(v.mean()) / NS_PER_MS,
        "median": float(np.median(v)) / NS_PER_MS,
        "min": float(v.min()) / NS_PER_MS,
        "max": float(v.max()) / NS_PER_MS,
        "std": (float(v.std(ddof=1)) if len(v) > 1 else 0.0) / NS_PER_MS,
    }


def loss_rate(lost: int, total: int) -> float:
    return lost / total if total else 0.0
