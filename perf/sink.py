"""The InfluxDB sink's rows: points per second into VictoriaMetrics, and RTT with the sink on.

``engine_with_sink`` is the ``engine`` row with the sink writing every sample,
so the suite compares the two medians within each round (issue target: they
differ by less than 5 %). The server stands in for a remote database: it runs
at the lowest CPU priority, so its own work (ingest, merges) does not land on
the measured path, which it would not in production either.

The ``sink`` section (``throughput``) then drives the sink directly with
synthetic Samples frames, as fast as they can be offered, against a fresh
server, and times offer-to-close: what the sink sustains end to end over
loopback HTTP. It runs after the RTT rounds, because the bulk load leaves the
server merging for a while.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.parent.sinks import SeriesInfo, SinkConfig
from engine.parent.supervision.runner import new_run_id
from ipc.frames import Hello, Samples
from perf import PerfError, engine_udp
from perf.report import row
from testbed.victoria import BINARY, INSTALL_HINT, VictoriaMetrics  # one way to run the server, shared with the tests

#: Points per synthetic frame: what a worker sends in 50 ms at 1,000 pings/s... times 20, to load the sink.
FRAME_POINTS = 1000


@contextlib.contextmanager
def victoria_metrics() -> Iterator[str]:
    """A throwaway VictoriaMetrics on 127.0.0.1; yields its URL."""
    binary = shutil.which(BINARY)
    if binary is None:
        raise PerfError(f"{BINARY} not found: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="perf-vm-") as folder:
        server = VictoriaMetrics(binary, Path(folder) / "data", Path(folder) / "vm.log")
        try:
            server.start()
            os.setpriority(os.PRIO_PROCESS, server.proc.pid, 19)
            yield server.url
        finally:
            server.stop()


def config(url: str, spool_dir: Path) -> SinkConfig:
    return SinkConfig(url=url, database="perf", token="perf", spool_dir=spool_dir)


def throughput(url: str, points: int) -> dict[str, Any]:
    """Offer ``points`` samples as fast as possible; points/s from the first offer until all are written."""
    from engine.parent.sinks.writer import InfluxSink  # loads influxdb3-python: only when this row runs

    hello = Hello("udp", 0, anchor_wall_ns=time.time_ns(), anchor_perf_ns=0, anchor_uncertainty_ns=0)
    run_id = new_run_id()
    with tempfile.TemporaryDirectory(prefix="perf-spool-") as spool_dir:
        sink = InfluxSink(config(url, Path(spool_dir)), run_id, {"udp": SeriesInfo("udp", "perf", run_id, 0, False)})
        started = time.perf_counter()
        offer_s = 0.0
        for start in range(1, points + 1, FRAME_POINTS):
            t = list(range(start * 1000, (start + FRAME_POINTS) * 1000, 1000))
            frame = Samples(list(range(start, start + FRAME_POINTS)), t, t, [x + 50_000 for x in t], t, t, [0] * len(t))
            before = time.perf_counter()
            sink.offer("udp", hello, frame)
            offer_s += time.perf_counter() - before
        report = sink.close({}, time.time())
        elapsed = time.perf_counter() - started
    if report["written"] != points or report["error"]:
        raise PerfError(f"sink throughput run wrote {report['written']} of {points}: {report['error']}")
    return {
        "points": points,
        "points_per_s": points / elapsed,
        "offer_us_per_frame": offer_s / (points / FRAME_POINTS) * 1e6,
        "spooled": report["spooled"],
    }


def engine_with_sink(agent_url: str, url: str, iterations: int, warmup: int, cooldown_ms: float) -> dict[str, Any]:
    """The ``engine`` row with the sink writing every sample to ``url``."""
    with tempfile.TemporaryDirectory(prefix="perf-spool-") as spool_dir:
        row = engine_udp.run(agent_url, iterations, warmup, cooldown_ms, sink=config(url, Path(spool_dir)))
    if row["sink"]["spooled"] or row["sink"]["error"]:
        raise PerfError(f"sink fell back to the spool during the RTT row: {row['sink']['error']}")
    row["sink_written"] = row.pop("sink")["written"]
    return row


def section(points: int, say) -> dict[str, Any]:
    """The throughput figure against its own fresh server."""
    say(f"  sink: {points:,} points into VictoriaMetrics")
    with victoria_metrics() as url:
        return throughput(url, points)


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        row("InfluxDB sink into VictoriaMetrics (points/s)", data["points_per_s"], fmt=".0f"),
        row("InfluxDB sink hand-off on the pipe-reading thread (µs per 1000 points)", data["offer_us_per_frame"]),
    ]
