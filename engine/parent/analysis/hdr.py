"""The parent's HDR histograms: one shape for all (1 unit to 60 s, 3 significant digits; µs unless asked) and how ns go in."""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 60_000_000
HDR_SIGNIFICANT_DIGITS = 3


def new_histogram(unit_ns: int = 1000) -> HdrHistogram:
    """1 unit to 60 s in ``unit_ns`` units (µs by default; ns for the µs-sized stack delay)."""
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US * (1000 // unit_ns), HDR_SIGNIFICANT_DIGITS)


def record_ns(hist: HdrHistogram, values_ns: np.ndarray, unit_ns: int = 1000) -> int:
    """Record durations in ``unit_ns`` units, each distinct value once with its count; returns how many
    were out of range.

    hdrh only refuses values past its rounded-up top, so the range is checked here.
    """
    us = (values_ns + unit_ns // 2) // unit_ns
    in_range = (us >= 0) & (us <= hist.highest_trackable_value)
    values, counts = np.unique(us[in_range], return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist()):
        hist.record_value(value, count)
    return int(len(us) - in_range.sum())
