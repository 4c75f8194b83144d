"""The parent's HDR histograms: one shape for all (µs, 1 µs–60 s, 3 significant digits) and how ns go in."""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 60_000_000
HDR_SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_SIGNIFICANT_DIGITS)


def record_ns(hist: HdrHistogram, values_ns: np.ndarray) -> int:
    """Record durations in µs, each distinct value once with its count; returns how many were out of range.

    hdrh only refuses values past its rounded-up top, so the range is checked here.
    """
    us = (values_ns + 500) // 1000
    in_range = (us >= 0) & (us <= HDR_HIGHEST_US)
    values, counts = np.unique(us[in_range], return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist()):
        hist.record_value(value, count)
    return int(len(us) - in_range.sum())
