"""What the report shows, as plain data: merged statistics, percentile and CDF curves, time series.

Curves come from each group's merged HDR histogram, so runs combine exactly;
time series are drawn per run, in seconds from its start (a group's runs can
be hours apart), and thinned to a few hundred points (the page stays small at
a million pings) by taking, per slice of consecutive pings, its median and max.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from hdrh.histogram import HdrHistogram

from engine.parent.reports import direction_figures
from engine.parent.reports.files import Group
from engine.parent.results.model import PlatformResult

#: Percentiles in the table (sockperf's set, plus 95).
TABLE_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 99.99)
#: Points on a percentile curve and a CDF; slices of an RTT and a loss time series.
CURVE_POINTS = 80
CDF_POINTS = 300
RTT_SLICES = 600
LOSS_SLICES = 120
#: Up to this many pings a series shows every ping.
RAW_PINGS = 2000


@dataclass
class Series:
    """One run's pings in time order, in seconds since the run started: what the time plots need."""

    label: str
    seconds: np.ndarray  # send time of each answered ping
    rtt_ms: np.ndarray
    lost_at: np.ndarray  # send time of each lost ping
    late_at: np.ndarray  # send time of each lost ping whose pong came after all
    lost_way: np.ndarray  # each lost ping's direction, in lost_at's order


def series_of(result: PlatformResult) -> Series:
    """Runs of one group can be hours apart: each is drawn on its own clock, from its start."""
    t0 = result.metadata.start_time
    m = result.measurements
    seconds = m.column("timestamp") - t0 if len(m) else np.zeros(0)
    rtt = m.column("round_trip_time") if len(m) else np.zeros(0)
    order = np.argsort(seconds, kind="stable")
    lost_order = np.argsort(np.array([p.timestamp for p in result.lost], dtype=np.float64), kind="stable")
    lost = np.array([p.timestamp for p in result.lost], dtype=np.float64)[lost_order] - t0
    ways = np.array([p.direction for p in result.lost], dtype=object)[lost_order]
    late_numbers = set(result.late)
    late = np.sort(np.array([p.timestamp for p in result.lost if p.message_number in late_numbers])) - t0
    start = dt.datetime.fromtimestamp(t0, dt.UTC).strftime("%H:%M:%S")
    return Series(f"run {result.metadata.run_id} at {start} UTC", seconds[order], rtt[order], lost, late, ways)


def percentile_curve(hist: HdrHistogram) -> list[list[float]]:
    """[x, ms] on the classic HDR axis x = log10(1 / (1 − p)), from p = 0 to the resolution the count allows."""
    n = hist.get_total_count()
    if not n:
        return []
    top = math.log10(n)
    points = []
    for x in np.linspace(0.0, top, CURVE_POINTS).tolist():
        p = 100.0 * (1.0 - 10.0**-x)
        points.append([round(x, 4), hist.get_value_at_percentile(p) / 1e3])
    points.append([round(top, 4), hist.get_max_value() / 1e3])
    return points


def cdf(hist: HdrHistogram) -> list[list[float]]:
    """[ms, fraction ≤ it] at each recorded value (thinned evenly to CDF_POINTS)."""
    n = hist.get_total_count()
    if not n:
        return []
    seen, points = 0, []
    for item in hist.get_recorded_iterator():
        seen += item.count_added_in_this_iter_step
        points.append([hist.get_highest_equivalent_value(item.value_iterated_to) / 1e3, seen / n])
    keep = np.unique(np.linspace(0, len(points) - 1, min(len(points), CDF_POINTS)).round().astype(int))
    return [points[i] for i in keep.tolist()]


def rtt_over_time(s: Series) -> dict[str, Any]:
    """Each ping when few, else per slice of consecutive pings its median and its max; [s, ms]; lost pings' times."""
    n = len(s.rtt_ms)
    marks = {
        "lost": _thinned(s.lost_at),
        "lost_count": len(s.lost_at),
        "late": _thinned(s.late_at),
        "late_count": len(s.late_at),
    }
    if n <= RAW_PINGS:
        points = np.column_stack([s.seconds, s.rtt_ms]).round(6).tolist()
        return {"label": s.label, "median": points, "max": [], **marks}
    edges = np.linspace(0, n, RTT_SLICES + 1).astype(int)
    med, top = [], []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
        t = float(s.seconds[(a + b) // 2])
        med.append([t, float(np.median(s.rtt_ms[a:b]))])
        top.append([t, float(s.rtt_ms[a:b].max())])
    return {"label": s.label, "median": med, "max": top, **marks}


def _thinned(times: np.ndarray) -> list[float]:
    """At most ~1,000 marks: more are one solid bar at this size anyway."""
    return np.round(times[:: max(1, len(times) // 1000)], 6).tolist()


def loss_over_time(s: Series) -> dict[str, Any]:
    """[s, share of pings lost] per slice of consecutive pings (received and lost together, in time order),
    in all and (``upstream``, ``downstream``) by direction."""
    times = np.concatenate([s.seconds, s.lost_at])
    if not len(times):
        return {"label": s.label, "points": [], "upstream": [], "downstream": []}
    order = np.argsort(times, kind="stable")
    times = times[order]
    edges = np.linspace(0, len(times), min(LOSS_SLICES, len(times)) + 1).astype(int)
    out: dict[str, Any] = {"label": s.label}
    for key, chosen in (("points", None), ("upstream", "upstream"), ("downstream", "downstream")):
        marks = np.ones(len(s.lost_at)) if chosen is None else (s.lost_way == chosen).astype(np.float64)
        lost = np.concatenate([np.zeros(len(s.seconds)), marks])[order]
        out[key] = [
            [float(times[(a + b) // 2]), float(lost[a:b].mean())]
            for a, b in zip(edges[:-1].tolist(), edges[1:].tolist())
            if b > a
        ]
    return out


def owd_variation(result: PlatformResult) -> dict[str, Any]:
    """One run's relative one-way delay (above its minimum) at p50/p95/p99, [percentile, ms] per direction."""
    s = result.statistics
    points = {
        way: [[p, getattr(s, f"owd_variation_{way}_p{p}")] for p in (50, 95, 99)] for way in ("upstream", "downstream")
    }
    return {way: [pt for pt in pts if pt[1] is not None] for way, pts in points.items()}


def _ms(hist: HdrHistogram, pct: float) -> float | None:
    return round(hist.get_value_at_percentile(pct) / 1e3, 3) if hist.get_total_count() else None


def table(group: Group, hist: HdrHistogram) -> list[list[Any]]:
    """[statistic, value] rows for the merged group (ms unless named)."""
    counters = ("duplicate_messages", "out_of_order_messages", "malformed_messages", "unknown_messages")
    rows: list[list[Any]] = [
        ["runs", len(group.results)],
        ["pings", group.total],
        ["answered", group.total - group.lost],
        ["lost", group.lost],
        ["loss rate", f"{group.loss_rate:.3%}"],
        ["late pongs", group.late],
        *[[name.replace("_", " "), sum(getattr(r.statistics, name) for r in group.results)] for name in counters],
        ["min RTT", round(hist.get_min_value() / 1e3, 3) if hist.get_total_count() else None],
        ["mean RTT", round(hist.get_mean_value() / 1e3, 3) if hist.get_total_count() else None],
        *[[f"p{pct:g} RTT", _ms(hist, pct)] for pct in TABLE_PERCENTILES],
        ["max RTT", round(hist.get_max_value() / 1e3, 3) if hist.get_total_count() else None],
        ["std dev RTT", round(hist.get_stddev() / 1e3, 3) if hist.get_total_count() else None],
    ]
    for kind, label in (
        ("network_rtt", "network RTT"),
        ("client_to_server", "client→server (est.)"),
        ("server_to_client", "server→client (est.)"),
        ("send_lag", "send lag"),
    ):
        h = group.histogram(kind)
        rows += [[f"{label} p50", _ms(h, 50.0)], [f"{label} p99", _ms(h, 99.0)]]
    for way in ("upstream", "downstream"):
        rows += [[f"lost {way}", direction_figures.lost(group, way)], [f"jitter {way}", _r3(direction_figures.jitter(group, way))]]
    return rows


def split(group: Group) -> dict[str, Any]:
    """The group's RTT p50 as wire plus endpoints (medians over its runs); wire None where any run lacks it."""
    stats = [r.statistics for r in group.results]
    wires = [s.transport_rtt_p50 for s in stats]
    known = bool(wires) and None not in wires
    sources = {r.metadata.transport_rtt_source for r in group.results}
    return {
        "rtt_p50": _median([s.p50_rtt for s in stats]),
        "wire": _median(wires) if known else None,
        "endpoints": _median([s.endpoint_share_p50 for s in stats]) if known else None,
        "source": sources.pop() if len(sources) == 1 else None,
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.median(present)), 3) if present else None


def _r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def group_data(group: Group) -> dict[str, Any]:
    """Everything the page draws for one group."""
    hist = group.histogram("rtt")
    runs = [series_of(r) for r in group.results]
    return {
        "label": group.label,
        "platform": group.platform,
        "location": group.location,
        "day": group.day,
        "percentiles": percentile_curve(hist),
        "cdf": cdf(hist),
        "rtt_over_time": [rtt_over_time(s) for s in runs],
        "late": group.late,
        "loss_over_time": [loss_over_time(s) for s in runs],
        "owd_variation": [{"label": s.label, **owd_variation(r)} for s, r in zip(runs, group.results, strict=True)],
        "table": table(group, hist),
        "split": split(group),
        "runs": [
            {"run_id": r.metadata.run_id, "start_time": r.metadata.start_time, **msgspec.structs.asdict(r.statistics)}
            for r in group.results
        ],
    }
