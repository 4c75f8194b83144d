"""The measured row: the ``udp`` transport through the real engine and a real echo agent.

Exactly what ``benchmark-runner --platform udp`` does: an embedded agent on
127.0.0.1 (started once per suite by the caller), then ``run_benchmark`` with
its spawned worker, timerfd pacer, session and pipe to the parent. Numbers are
read back from the result's ``statistics`` (shaped as the original's), converted to µs.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.parent.settings import RunSettings
from engine.parent.sinks import SinkConfig
from engine.parent.sinks.stream import StreamWriter
from engine.parent.supervision.runner import new_run_id, run_benchmark
from ipc.protocol import encode_ping
from perf import PerfError
from transports.udp import MIN_PING_BYTES

TIMEOUT_MS = 1000.0


def ping_size(iterations: int, warmup: int) -> int:
    """Bytes of a ping at the run's middle seq (the size varies by a digit or two), padded as the udp echo asks."""
    return max(len(encode_ping(warmup + iterations // 2, time.time_ns() / 1e6, new_run_id())), MIN_PING_BYTES)


def _us(ms: float | None) -> float | None:
    return None if ms is None else ms * 1e3


def run(
    agent_url: str,
    iterations: int,
    warmup: int,
    cooldown_ms: float,
    busy_poll_us: int = 0,
    sink: SinkConfig | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """One run; with ``stream``, ``--stream`` writes every ping's line to a temporary file as users' runs do."""
    settings = RunSettings(
        busy_poll_us=busy_poll_us,
        run_id=new_run_id(),
        iterations=iterations,
        timeout_ms=TIMEOUT_MS,
        cooldown_ms=cooldown_ms,
        warmup=warmup,
        payload_bytes=0,
        location_id="perf",
        clock_mode="auto",
    )
    with tempfile.TemporaryDirectory(prefix="perf-stream-") as folder:
        writer = StreamWriter(Path(folder) / "run.ndjson", _stream_failed) if stream else None
        try:
            outcome = run_benchmark(
                ["udp"],
                {"udp": agent_url},
                settings,
                connect_timeout_s=15.0,
                log_level=logging.WARNING,
                sink=sink,
                stream=writer,
            )
        finally:
            if writer is not None:
                writer.close()
    if outcome.errors or outcome.interrupted:
        raise PerfError(f"engine run failed: {'; '.join(outcome.errors) or 'interrupted'}")
    result = outcome.per_platform["udp"]
    s = result.statistics
    if not s.successful_messages:
        raise PerfError("engine run received no pongs")
    rtt_ns = result.measurements.column("round_trip_time") * 1e6
    return {
        # from statistics (HDR histogram, 1 µs resolution): the numbers users see
        "p50_us": _us(s.p50_rtt),
        "p99_us": _us(s.p99_rtt),
        "mean_us": _us(s.mean_rtt),
        "min_us": _us(s.min_rtt),
        "max_us": _us(s.max_rtt),
        "send_lag_p50_us": _us(s.send_lag_p50),
        "send_lag_p99_us": _us(s.send_lag_p99),
        "send_lag_max_us": _us(s.send_lag_max),
        "network_p50_us": _us(s.p50_network_rtt),
        # user t4 - kernel t4: what this host's receive path adds, left out of the RTT by kernel stamps
        "stack_delay_p50_us": _us(s.stack_delay_p50),
        "stack_delay_p99_us": _us(s.stack_delay_p99),
        # 1.0 when t1 and t4 both came from the kernel (a number, so rounds reduce it like the rest)
        "kernel_stamped": float(all(result.metadata.timestamp_source.get(k) == "kernel" for k in ("t1", "t4"))),
        "server_processing_mean_us": _us(s.mean_server_processing),
        # exact order statistics from the raw samples, as a cross-check of the histogram
        "exact_p50_us": float(np.percentile(rtt_ns, 50)) / 1e3,
        "exact_p99_us": float(np.percentile(rtt_ns, 99)) / 1e3,
        "samples": s.successful_messages,
        "lost": s.failed_messages,
        "late": s.late_messages,
        # the worker's CPU time (imports and connect included) over the run's wall time
        "worker_cpu_s": result.metadata.worker_cpu_s,
        "worker_measuring_cpu_s": result.metadata.worker_measuring_cpu_s,
        "worker_peak_rss_mb": result.metadata.worker_peak_rss_mb,
        "run_s": result.metadata.duration_ms / 1e3,
        "warnings": result.metadata.warnings,
        "sink": result.metadata.sink,
        "stream_lines": writer.lines if writer is not None else None,
    }


def _stream_failed(line: str) -> None:
    raise PerfError(line)
