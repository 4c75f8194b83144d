"""InfluxDB line protocol for the dashboard's two measurements, built column-wise from numpy.

``latency_measurements``: one line per matched ping, time = its receive instant
(t4 on the wall clock, ns). ``run_summary``: one line per platform and run,
time = run end, a field for every number in ``statistics``. Tags on both:
``platform``, ``location_id``, ``run_id`` (docs/ARCHITECTURE.md, "InfluxDB schema").
Lines are formatted with bytes ``%`` over whole columns rather than the
client's ``Point`` objects: about 1 µs a line against ~15 µs (perf/sink.py).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from engine.parent.analysis.offset import CLOCK_FILTER_SAMPLES, exchange_delay, exchange_offset, lowest_indices
from engine.parent.analysis.plausibility import impossible_processing
from engine.parent.results.measurements import Measurements
from engine.parent.sinks import SeriesInfo
from ipc.frames import Hello, Samples

SAMPLES_MEASUREMENT = b"latency_measurements"
SUMMARY_MEASUREMENT = b"run_summary"

_STRING_ESCAPES = str.maketrans({'"': r'\"', "\\": "\\\\"})
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": r"\n"})


def tag_set(info: SeriesInfo) -> bytes:
    """``,platform=…,location_id=…,run_id=…`` escaped; an empty value is left out (line protocol forbids it)."""
    tags = {"platform": info.platform, "location_id": info.location_id, "run_id": info.run_id}
    return b"".join(f",{k}={v.translate(_TAG_ESCAPES)}".encode() for k, v in tags.items() if v)


class RunningOffset:
    """θ̂ over the samples seen so far, computed as ``engine.parent.analysis.offset.estimate_offset`` does over a whole run.

    Keeps only the lowest-delay ``CLOCK_FILTER_SAMPLES`` exchanges, so each
    batch costs O(batch). By the run's end it equals the θ̂ in the result JSON;
    earlier points carry the estimate of their moment.
    """

    def __init__(self) -> None:
        self._delay = np.zeros(0, np.int64)
        self._theta = np.zeros(0)

    def update(self, delay: np.ndarray, theta: np.ndarray) -> float:
        d = np.concatenate([self._delay, delay])
        t = np.concatenate([self._theta, theta])
        best = lowest_indices(d, CLOCK_FILTER_SAMPLES)
        self._delay, self._theta = d[best], t[best]
        return float(np.median(self._theta))


def sample_lines(info: SeriesInfo, hello: Hello, s: Samples, offset: RunningOffset | None) -> list[bytes]:
    """One ``latency_measurements`` line per sample; one-way fields only where the agent sent possible instants.

    Field values come from ``Measurements``, the result file's own definitions, so both say the same.
    """
    raw = {name: np.asarray(getattr(s, name), dtype=np.int64) for name in ("seq", "due", "t1", "t4", "t2", "t3")}
    raw["processing_ns"] = np.asarray(s.processing_ns, dtype=np.int64)
    shift = hello.anchor_wall_ns - hello.anchor_perf_ns
    network = raw["t4"] - raw["t1"] - raw["processing_ns"]
    one_way = (raw["t2"] != 0) & ~impossible_processing(raw["processing_ns"], network)
    theta = 0.0
    if offset is not None and one_way.any():
        t1w, t2, t3, t4w = raw["t1"][one_way] + shift, raw["t2"][one_way], raw["t3"][one_way], raw["t4"][one_way] + shift
        theta = offset.update(exchange_delay(t1w, t2, t3, t4w), exchange_offset(t1w, t2, t3, t4w))
    count = len(raw["seq"])
    fields = Measurements.from_stamps(raw, wall_minus_perf=shift, theta=theta, one_way=True, warmup=info.warmup)
    prefix = SAMPLES_MEASUREMENT + tag_set(info)
    rows = zip(
        *(fields.values(name, 0, count) for name in ("round_trip_time", "client_to_server", "server_to_client")),
        fields.values("message_number", 0, count),
        (raw["t4"] + shift).tolist(),
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
    """The ``run_summary`` line: ints get the ``i`` suffix, strings (the encoded histograms) are quoted and
    escaped; None, booleans and non-finite values are left out."""
    fields = []
    for key, value in statistics.items():
        if isinstance(value, bool | np.bool_) or value is None:
            continue
        if isinstance(value, str):
            fields.append(b'%s="%s"' % (key.encode(), value.translate(_STRING_ESCAPES).encode()))
        if isinstance(value, numbers.Integral):
            fields.append(b"%s=%di" % (key.encode(), int(value)))
        elif isinstance(value, numbers.Real) and math.isfinite(value):
            fields.append(b"%s=%r" % (key.encode(), float(value)))  # float(): numpy 2 scalars repr as np.float64(…)
    return SUMMARY_MEASUREMENT + tag_set(info) + b" " + b",".join(fields) + b" %d" % end_time_ns
