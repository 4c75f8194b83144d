"""InfluxDB line protocol for the dashboard's two measurements, built column-wise from numpy.

``latency_measurements``: one line per matched ping, time = its receive instant
(t4 on the wall clock, ns). ``run_summary``: one line per platform and run,
time = run end, a field for every number in ``statistics``. Tags on both:
``platform``, ``location_id``, ``run_id`` (DESIGN.md, "InfluxDB schema").
Lines are formatted with bytes ``%`` over whole columns rather than the
client's ``Point`` objects: about 1 µs a line against ~15 µs (perf/sink.py).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from engine.clock import CLOCK_FILTER_SAMPLES
from engine.sinks import SeriesInfo
from ipc.frames import Hello, Samples

SAMPLES_MEASUREMENT = b"latency_measurements"
SUMMARY_MEASUREMENT = b"run_summary"

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": r"\n"})


def tag_set(info: SeriesInfo) -> bytes:
    """``,platform=…,location_id=…,run_id=…`` escaped; an empty value is left out (line protocol forbids it)."""
    tags = {"platform": info.platform, "location_id": info.location_id, "run_id": info.run_id}
    return b"".join(f",{k}={v.translate(_TAG_ESCAPES)}".encode() for k, v in tags.items() if v)


class RunningOffset:
    """θ̂ over the samples seen so far, computed as ``engine.clock.estimate_offset`` does over a whole run.

    Keeps only the lowest-delay ``CLOCK_FILTER_SAMPLES`` exchanges, so each
    batch costs O(batch). By the run's end it equals the θ̂ in the result JSON;
    earlier points carry the estimate of their moment.
    """

    def __init__(self) -> None:
        self._delay = np.zeros(0)
        self._theta = np.zeros(0)

    def update(self, delay: np.ndarray, theta: np.ndarray) -> float:
        d = np.concatenate([self._delay, delay])
        t = np.concatenate([self._theta, theta])
        best = np.argsort(d, kind="stable")[:CLOCK_FILTER_SAMPLES]
        self._delay, self._theta = d[best], t[best]
        return float(np.median(self._theta))


def _ms(values_ns: np.ndarray) -> list[float]:
    return np.round(values_ns / 1e6, 6).tolist()  # as in the result JSON: ms rounded to the ns


def sample_lines(info: SeriesInfo, hello: Hello, s: Samples, offset: RunningOffset | None) -> list[bytes]:
    """One ``latency_measurements`` line per sample; one-way fields only where the agent sent its instants."""
    t1, t2, t3, t4 = (np.asarray(c, dtype=np.int64) for c in (s.t1, s.t2, s.t3, s.t4))
    shift = hello.anchor_wall_ns - hello.anchor_perf_ns
    t1w, t4w = t1 + shift, t4 + shift
    one_way = t2 != 0
    theta = 0.0
    if offset is not None and one_way.any():
        ow = one_way
        delay = ((t4w[ow] - t1w[ow]) - (t3[ow] - t2[ow])).astype(np.float64)
        theta = offset.update(delay, ((t2[ow] - t1w[ow]) + (t3[ow] - t4w[ow])).astype(np.float64) / 2.0)
    prefix = SAMPLES_MEASUREMENT + tag_set(info)
    rows = zip(
        _ms(t4 - t1),
        _ms((t2 - t1w) - theta),
        _ms((t4w - t3) + theta),
        (np.asarray(s.seq, dtype=np.int64) - info.warmup).tolist(),
        t4w.tolist(),
        one_way.tolist(),
    )
    return [
        prefix
        + (
            b" round_trip_time=%r,client_to_server=%r,server_to_client=%r,message_number=%di %d"
            % (rtt, c2s, s2c, n, ts)
            if ow
            else b" round_trip_time=%r,message_number=%di %d" % (rtt, n, ts)
        )
        for rtt, c2s, s2c, n, ts, ow in rows
    ]


def summary_line(info: SeriesInfo, statistics: dict[str, Any], end_time_ns: int) -> bytes:
    """The ``run_summary`` line: ints get the ``i`` suffix; None, booleans and non-finite values are left out."""
    fields = []
    for key, value in statistics.items():
        if isinstance(value, bool | np.bool_) or value is None:
            continue
        if isinstance(value, numbers.Integral):
            fields.append(b"%s=%di" % (key.encode(), int(value)))
        elif isinstance(value, numbers.Real) and math.isfinite(value):
            fields.append(b"%s=%r" % (key.encode(), float(value)))  # float(): numpy 2 scalars repr as np.float64(…)
    return SUMMARY_MEASUREMENT + tag_set(info) + b" " + b",".join(fields) + b" %d" % end_time_ns
