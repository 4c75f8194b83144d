"""Turning a finished (or interrupted) run into the result model, and writing it safely.

Every key of the original runner's output keeps its name, type and unit; the
additions sit beside them (docs/ARCHITECTURE.md, "Output JSON"; the model is in
``engine.parent.results.model``).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

import transports
from engine.parent.analysis import breakdown, directions, plausibility, stats
from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.cautions import applied_bound_ms, clock_cautions, contradicted
from engine.parent.analysis.hdr import new_histogram, record_ns
from engine.parent.analysis.loss_direction import DIRECTIONS, loss_directions
from engine.parent.analysis.offset import ClockMode
from engine.parent.results import histograms, output_file
from engine.parent.results.measurements import Measurements
from engine.parent.results.model import (
    FORMAT_VERSION,
    LostPing,
    Metadata,
    PlatformResult,
    Result,
    Statistics,
    dump_pieces,
)
from engine.parent.settings import PlatformContext, RunSettings
from ipc.version import version


def host_facts() -> dict[str, Any]:
    """What the numbers depend on besides the network (pyperf keeps the same in its metadata)."""
    return {
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def platform_result(
    run: PlatformRun, settings: RunSettings, ctx: PlatformContext, start_time: float, end_time: float
) -> PlatformResult:
    """The original's per-platform object (plus additions) for one worker's run.

    Only the raw columns are held for the whole run; each derived column
    (RTT, network RTT, one-way) lives while its statistics are taken, and
    ``measurements`` derives its fields a chunk at a time (perf/ memory target).
    """
    a = run.arrays()
    wall_minus_perf = run.hello.anchor_wall_ns - run.hello.anchor_perf_ns if run.hello else 0
    received = len(a["seq"])
    # t2 == 0 marks a sample without agent instants, even if the worker died before Done.
    legacy = bool(run.done and run.done.legacy_agent) or not a["t2"].all()
    one_way = not legacy and received > 0

    rtt = a["t4"] - a["t1"]
    figures = {
        "rtt": stats.describe_ms(rtt),
        "jitter": stats.jitter_mean_abs_diff(rtt),
        "jitter_rfc3550": stats.jitter_rfc3550(rtt),
    }
    network = np.subtract(rtt, a["processing_ns"], out=rtt)  # the RTT's buffer, now that its statistics are taken
    bad, offset = plausibility.screen(a, network, wall_minus_perf, one_way)
    implausible = int(bad.sum())
    good = ~bad if implausible else slice(None)
    figures["network"] = stats.describe_ms(network[good])
    figures["implausible"] = implausible
    if implausible:  # the aggregator left out impossible processing only: its histogram is rebuilt without the rest
        figures["network_hist"] = new_histogram()
        record_ns(figures["network_hist"], network[good])
    del rtt, network
    if one_way and implausible < received:
        figures["ways"] = {
            way: directions.variation(directions.one_way_ns(a, wall_minus_perf, good, way)) for way in directions.WAYS
        }
    theta = offset.theta_ns if (offset and ctx.clock_mode is ClockMode.ESTIMATE) else 0.0
    warmup = settings.warmup
    bound_ms = applied_bound_ms(ctx.clock_mode, ctx.clock_bound_ms)
    withheld = one_way and contradicted(ctx.clock_mode, offset, bound_ms)
    one_way_values = one_way and not withheld  # per direction variation stands either way: θ cancels in it
    measurements = Measurements.from_stamps(
        a, wall_minus_perf=wall_minus_perf, theta=theta, one_way=one_way_values, warmup=warmup, unavailable=bad
    )
    if one_way_values and implausible < received:
        figures["c2s"] = measurements.mean_ns("client_to_server") / stats.NS_PER_MS
        figures["s2c"] = measurements.mean_ns("server_to_client") / stats.NS_PER_MS
        if ctx.clock_mode is not ClockMode.ESTIMATE:  # percentiles where the clocks, not an assumed symmetry, split
            figures["one_way_pct"] = {kind: _exact_percentiles(measurements.column(kind)) for kind in ONE_WAY}
    figures["processing_mean"] = (
        float(a["processing_ns"][good].mean(dtype=np.float64)) / stats.NS_PER_MS if implausible < received else None
    )
    lost_t1w = (
        np.frombuffer(run.lost["t1"], dtype=np.int64) + wall_minus_perf if run.lost_count else np.zeros(0, np.int64)
    )
    done = run.done
    lost_ways = loss_directions(
        run.lost["seq"], ctx.agent_received, *((done.lost_upstream, done.lost_downstream) if done else ())
    )
    lost = [
        LostPing(int(seq) - warmup, ts, way)
        for seq, ts, way in zip(run.lost["seq"], np.round(lost_t1w / 1e9, 6).tolist(), lost_ways, strict=True)
    ]
    figures["lost_by_direction"] = {way: lost_ways.count(way) for way in DIRECTIONS}
    statistics = _statistics(run, received, figures)
    split = _breakdown(run, ctx, statistics)
    statistics.transport_rtt_p50, statistics.transport_rtt_p99 = split.p50, split.p99
    statistics.endpoint_share_p50 = split.endpoints_p50
    first = _first_ping_ns(a, run)
    if first is not None and run.hello:  # the original times its run from its first ping too
        start_time = round((first + wall_minus_perf) / 1e9, 6)
    metadata_ = _metadata(run, settings, ctx, start_time, end_time, offset, one_way, statistics)
    metadata_.transport_rtt_source, metadata_.transport_rtt = split.source, split.sides
    if split.missing and received:
        metadata_.warnings.append(f"transport RTT missing: {split.missing}; the RTT is not split into wire and endpoints")
    metadata_.one_way_withheld = withheld
    metadata_.one_way_available = one_way_values
    metadata_.one_way_bound_ms = _r(bound_ms, 6) if one_way_values and bound_ms is not None else None
    hists = histograms_of_run(run, measurements, one_way_values)
    late = [seq - warmup for seq in run.done.late_seqs if seq > warmup] if run.done else []
    return PlatformResult(run.platform, measurements, statistics, metadata_, lost, late, hists)


def _breakdown(run: PlatformRun, ctx: PlatformContext, statistics: Statistics) -> breakdown.Breakdown:
    """The wire's and the endpoints' share: udp's from its kernel stamps, the others' from their stacks."""
    platform = transports.PLATFORMS.get(run.platform)
    kernel = None
    if run.platform == "udp":
        if set(run.timestamp_source().values()) == {"kernel"}:
            kernel = (statistics.p50_network_rtt, statistics.p99_network_rtt)
        else:
            return breakdown.Breakdown(missing="udp's wire is its network RTT with all four stamps the kernel's, and they were not")
    return breakdown.breakdown(
        app_p50=statistics.p50_rtt,
        relayed=bool(platform and platform.relayed),
        runner=run.transport_rtt,
        agent=ctx.agent_transport_rtt,
        kernel_network=kernel,
    )


def _first_ping_ns(a: dict[str, np.ndarray], run: PlatformRun) -> int | None:
    """The first measured ping's send instant (perf ns): the earliest answered or lost one."""
    firsts = [int(a["t1"].min())] if len(a["t1"]) else []
    if run.lost_count:
        firsts.append(int(np.frombuffer(run.lost["t1"], dtype=np.int64).min()))
    return min(firsts, default=None)


def _statistics(run: PlatformRun, received: int, x: dict[str, Any]) -> Statistics:
    lost = run.lost_count
    total = received + lost
    d, net = x["rtt"], x["network"]
    pct = stats.hdr_percentiles_ms(run.rtt_hist, bounds=(d["min"], d["max"]))
    net_pct = stats.hdr_percentiles_ms(x.get("network_hist", run.network_hist), bounds=(net["min"], net["max"]))
    lag = stats.hdr_percentiles_ms(run.send_lag_hist, (50.0, 99.0, 100.0))
    stack = stats.hdr_percentiles_ms(run.stack_hist, (50.0, 99.0, 100.0), unit_ns=1)
    counters = run.done.counters if run.done else {}
    return Statistics(
        **{
            "total_messages": total,
            "successful_messages": received,
            "failed_messages": lost,
            "packet_loss_rate": stats.loss_rate(lost, total),
            "mean_rtt": _r(d["mean"]),
            "median_rtt": _r(d["median"]),
            "min_rtt": _r(d["min"]),
            "max_rtt": _r(d["max"]),
            "std_dev_rtt": _r(d["std"]),
            "p50_rtt": _r(pct[50.0]),
            "p95_rtt": _r(pct[95.0]),
            "p99_rtt": _r(pct[99.0]),
            "jitter": _r(x["jitter"]),
            # additions
            "p99_9_rtt": _r(pct[99.9]),
            "jitter_rfc3550": _r(x["jitter_rfc3550"]),
            "mean_server_processing": _r(x["processing_mean"], 6),
            "mean_network_rtt": _r(net["mean"]),
            "median_network_rtt": _r(net["median"]),
            "p50_network_rtt": _r(net_pct[50.0]),
            "p99_network_rtt": _r(net_pct[99.0]),
            "mean_client_to_server": _r(x.get("c2s")),
            "mean_server_to_client": _r(x.get("s2c")),
            "send_lag_p50": _r(lag[50.0]),
            "send_lag_p99": _r(lag[99.0]),
            "send_lag_max": _r(lag[100.0]),
            "stack_delay_p50": _r(stack[50.0], 6),
            "stack_delay_p99": _r(stack[99.0], 6),
            "stack_delay_max": _r(stack[100.0], 6),
            "late_messages": counters.get("late", 0),
            "duplicate_messages": counters.get("duplicate", 0),
            "out_of_order_messages": counters.get("out_of_order", 0),
            "malformed_messages": counters.get("malformed", 0),
            "unknown_messages": counters.get("unknown", 0),
            "implausible_agent_stamps": x["implausible"],
            "lost_upstream": x["lost_by_direction"]["upstream"],
            "lost_downstream": x["lost_by_direction"]["downstream"],
            "lost_unknown_direction": x["lost_by_direction"]["unknown"],
            **_by_direction(x.get("ways")),
            **{
                f"p{p}_{kind}": _r(x["one_way_pct"][kind][p]) if "one_way_pct" in x else None
                for kind in ONE_WAY
                for p in ONE_WAY_PERCENTILES
            },
        }
    )


ONE_WAY = ("client_to_server", "server_to_client")
ONE_WAY_PERCENTILES = (50, 95, 99)


def _exact_percentiles(values_ms: np.ndarray) -> dict[int, float]:
    """p50/p95/p99 of a measurements column (ms), its null rows left out: the samples' own values."""
    values_ms = values_ms[~np.isnan(values_ms)]
    found = np.percentile(values_ms, ONE_WAY_PERCENTILES, method="inverted_cdf")
    return {p: float(v) for p, v in zip(ONE_WAY_PERCENTILES, found, strict=True)}


def _by_direction(ways: dict[str, dict[str, float | None]] | None) -> dict[str, float | None]:
    """The per-direction delay variation keys, null without agent instants."""
    out = {}
    for way in directions.WAYS:
        v = ways[way] if ways else {}
        out[f"jitter_{way}"] = _r(v.get("jitter"))
        out[f"jitter_rfc3550_{way}"] = _r(v.get("jitter_rfc3550"))
        for p in directions.VARIATION_PERCENTILES:
            out[f"owd_variation_{way}_p{p}"] = _r(v.get(f"p{p}"))
    return out


def _metadata(
    run, settings: RunSettings, ctx: PlatformContext, start_time, end_time, offset, one_way, statistics
) -> Metadata:
    return Metadata(
        **{
            "start_time": start_time,
            "end_time": end_time,
            "duration_ms": round((end_time - start_time) * 1e3, 3),
            "iterations": settings.iterations,
            "timeout_ms": settings.timeout_ms,
            "platform": run.platform,
            "room_url": ctx.room_url,
            "location_id": settings.location_id,
            "run_id": settings.run_id,
            # additions
            "format_version": FORMAT_VERSION,
            "engine_version": version(),
            "host": host_facts(),
            "sdk_versions": dict(run.hello.sdk) if run.hello else {},
            "agent_url": ctx.agent_url,
            "agent": ctx.agent,
            "cooldown_ms": settings.cooldown_ms,
            "warmup": settings.warmup,
            "payload_bytes": settings.payload_bytes,
            "reliable": settings.reliable,
            "busy_poll_us": settings.busy_poll_us,
            "impairment": ctx.impairment,
            "clock_mode": ctx.clock_mode.value,
            "clock_offset_ms": _r(offset.theta_ns / 1e6, 6) if offset else None,
            "clock_offset_uncertainty_ms": _r(offset.uncertainty_ns / 1e6, 6) if offset else None,
            "clock_anchor_uncertainty_ns": run.hello.anchor_uncertainty_ns if run.hello else None,
            "timestamp_source": run.timestamp_source(),
            "one_way_available": one_way,
            "legacy_agent": not one_way and run.received > 0,
            "pings_sent": run.done.sent if run.done else None,
            "connect_time_ms": _r(run.connect_ms),
            "worker_cpu_s": _r(run.done.cpu_s) if run.done else None,
            "worker_measuring_cpu_s": _r(run.done.measuring_cpu_s) if run.done else None,
        "worker_peak_rss_mb": _r(run.done.peak_rss_kb / 1024) if run.done and run.done.peak_rss_kb else None,
            "worker_exit_code": run.exit_code,
            "partial": run.partial,
            "error": run.fatal_error,
            "histogram_out_of_range": run.out_of_range,
            "warnings": warnings(statistics, settings, offset if one_way else None, ctx.clock_mode, applied_bound_ms(ctx.clock_mode, ctx.clock_bound_ms))
            + run.warnings + ctx.notes,
            "duration_requested_s": settings.duration_s,
            "phase_offset_ms": ctx.phase_ns / 1e6,
            "pinned_cpu": ctx.cpu,
            "clock_bound_ms": _r(ctx.clock_bound_ms, 6),
            "clock_sources": ctx.clock_sources,
        }
    )


#: pyperf's 10 % rules, each above an absolute floor. A bare timerfd's own p99 lateness reaches 2.7 ms on a loaded 2-core VM (perf/README.md), so less says nothing about this client.
SEND_LAG_FLOOR_MS = 3.0
#: Spread under 1 ms is the OS scheduler's wake-up noise (loopback RTTs are 0.05–2 ms), not an unstable path.
STD_FLOOR_MS = 1.0


def warnings(
    statistics: Statistics, settings: RunSettings, offset, mode: ClockMode, bound_ms: float | None = None
) -> list[str]:
    """Plain-words cautions about the numbers, in the spirit of pyperf's."""
    out = []
    if statistics.failed_messages:
        out.append(f"{statistics.failed_messages} of {statistics.total_messages} pings were lost")
    if statistics.total_messages < settings.iterations:
        out.append(f"only {statistics.total_messages} of {settings.iterations} pings completed")
    lag, median = statistics.send_lag_p99, statistics.median_rtt
    if lag is not None and median and lag > max(SEND_LAG_FLOOR_MS, 0.1 * median):
        out.append(
            f"send lag p99 {lag:.3f} ms is {lag / median:.0%} of the median RTT: this client's own delays are a visible share of what it measures"
        )
    mean, std = statistics.mean_rtt, statistics.std_dev_rtt
    if mean and std is not None and std >= max(STD_FLOOR_MS, 0.1 * mean):
        out.append(f"RTT std dev {std:.3f} ms is over 10% of the mean: the result is unstable")
    if statistics.implausible_agent_stamps:
        out.append(
            f"{statistics.implausible_agent_stamps} pongs carried agent stamps that cannot be true (processing "
            "below zero or over the RTT, or instants outside the run): their one-way and processing values are "
            "left out, their RTT counts"
        )
    return out + clock_cautions(
        mode, offset, statistics.mean_client_to_server, statistics.mean_server_to_client, bound_ms
    )


def write_json(path: Path | str, result: Result | dict[str, Any]) -> None:
    """The result's JSON, streamed piece by piece (``measurements`` a chunk at a time) to wherever
    ``--output`` points (``output_file``)."""
    output_file.write(path, dump_pieces(result))


def histograms_of_run(run: PlatformRun, measurements: Measurements, one_way: bool) -> histograms.Histograms:
    """A run's histograms: the aggregator's own, plus one-way ones built from the measurements a chunk at a time.

    A one-way value below zero (a clock offset estimate off by more than the path) is out of an HDR range, as
    hdrh refuses negatives, and a row without plausible agent stamps has none: neither is in a histogram.
    """
    one_way_hists = {}
    for kind in ("client_to_server", "server_to_client"):
        hist = new_histogram()
        for part in measurements.chunks_ns(kind) if one_way else ():
            part = part[~np.isnan(part)]  # NaN: a row whose agent stamps were implausible
            record_ns(hist, np.round(part).astype(np.int64))
        one_way_hists[kind] = histograms.encode(hist)
    return histograms.Histograms(
        rtt=histograms.encode(run.rtt_hist),
        network_rtt=histograms.encode(run.network_hist),
        send_lag=histograms.encode(run.send_lag_hist),
        **one_way_hists,
    )
