"""Delay variation of each direction on its own, from each host's own instants: no clock sync needed.

Up, t2 − t1 is the one-way delay plus the unknown offset θ between the clocks; down, t4 − t3 is the
delay minus θ. θ is a constant within a run, so differences between pings (IPDV, RFC 5481) and the
delay above its own minimum are the path's, in every clock mode. What does not cancel is a difference
of clock *rates*: the agent's clock running r ppm fast adds r·10⁻⁶ of the time between two pings to
their IPDV (10 ppm over a 10 ms cooldown: 0.1 µs) and up to r·10⁻⁶ of the run's length to the
variation (10 ppm over 60 s: 0.6 ms), upstream with one sign and downstream with the other. Not fitted
out: a real queue building up over the run is a linear trend too (docs/metrics.md).
"""

from __future__ import annotations

import numpy as np

from engine.parent.analysis.stats import NS_PER_MS, jitter_mean_abs_diff, jitter_rfc3550

WAYS = ("upstream", "downstream")
VARIATION_PERCENTILES = (50, 95, 99)


def one_way_ns(a: dict[str, np.ndarray], wall_minus_perf: int, keep: np.ndarray | slice, way: str) -> np.ndarray:
    """One direction's one-way delay plus or minus θ (ns) of each answered ping, in seq order; ``keep``
    selects the rows whose agent stamps are plausible. One direction at a time and in place: at a million
    pings each array is 8 MB, and the parent's peak memory is a perf/ target."""
    if way == "upstream":  # t2 − t1w
        owd = a["t2"][keep] - a["t1"][keep]
        owd -= wall_minus_perf
    else:  # t4w − t3, t3 = t2 + processing
        owd = a["t4"][keep] - a["t2"][keep]
        owd -= a["processing_ns"][keep]
        owd += wall_minus_perf
    return owd


def variation(owd_ns: np.ndarray) -> dict[str, float | None]:
    """One direction's jitter (mean |IPDV| of consecutive answered pings), RFC 3550 jitter, and the
    delay above its minimum at p50/p95/p99, ms. ``owd_ns`` is used up: shifted and partitioned in place."""
    out: dict[str, float | None] = {"jitter": jitter_mean_abs_diff(owd_ns), "jitter_rfc3550": jitter_rfc3550(owd_ns)}
    if len(owd_ns) == 0:
        return out | {f"p{p}": None for p in VARIATION_PERCENTILES}
    owd_ns -= owd_ns.min()
    values = np.percentile(owd_ns, VARIATION_PERCENTILES, method="inverted_cdf", overwrite_input=True)
    return out | {f"p{p}": float(v) / NS_PER_MS for p, v in zip(VARIATION_PERCENTILES, values, strict=True)}
