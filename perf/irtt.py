"""The second external row: irtt (Go, user-space stamps, its own compensated send timer), on loopback.

irtt is the bufferbloat community's reference for isochronous round trips:
``irtt server`` on 127.0.0.1 with ``-i 0`` (no minimum interval) and
``irtt client`` at the suite's rate and packet size. Its JSON output has every
round trip's client send and receive instants (monotonic ns), so the RTT here
is client send → receive like the engine's and sockperf's (irtt's own ``rtt``
leaves the server's processing out, and is kept beside it); its timer error
(how late each send woke against its schedule) and its send-call time stand
beside the engine's send lag.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from perf import PerfError
from perf.sockperf import free_udp_port, stop

#: How long the server may take to bind before the client's first packet (it prints nothing when -q).
SERVER_START_S = 0.3
#: The client's wait for the last replies (its default, three times the largest RTT or 4 s, would idle).
WAIT = "200ms"


def version(exe: str) -> str:
    out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=10, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(":", 1)[1].strip() if first and ":" in first[0] else "unknown"


def _percentile(sorted_values: list[int], p: float) -> float:
    """The nearest-rank percentile (the inverted CDF, as the engine's HDR percentiles)."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return float(sorted_values[int(rank) - 1])


def parse(report: dict[str, Any], expected: int) -> dict[str, Any]:
    """RTT p50/p99 (client send → receive), timer error and send call, in µs; ``expected`` pings asked for."""
    rtts = sorted(
        rt["timestamps"]["client"]["receive"]["monotonic"] - rt["timestamps"]["client"]["send"]["monotonic"]
        for rt in report.get("round_trips") or []
        if rt.get("lost") == "false" and "receive" in rt.get("timestamps", {}).get("client", {})
    )
    if not rtts:
        raise PerfError("irtt got no reply")
    stats = report["stats"]
    timer, send_call, own = stats.get("timer_error") or {}, stats.get("send_call") or {}, stats.get("rtt") or {}
    return {
        "p50_us": _percentile(rtts, 50.0) / 1e3,
        "p99_us": _percentile(rtts, 99.0) / 1e3,
        "min_us": rtts[0] / 1e3,
        "max_us": rtts[-1] / 1e3,
        "irtt_rtt_median_us": own["median"] / 1e3 if own.get("median") else None,  # minus server processing
        "timer_error_mean_us": timer["mean"] / 1e3 if timer.get("n") else None,
        "timer_error_max_us": timer["max"] / 1e3 if timer.get("n") else None,
        "send_call_mean_us": send_call["mean"] / 1e3 if send_call.get("n") else None,
        "sent": stats["packets_sent"],
        "received": stats["packets_received"],
        "sent_share": stats["packets_sent"] / expected if expected else None,
    }


def run(
    exe: str, packet_bytes: int, mps: int, duration_s: int, host: str = "127.0.0.1", echo_cpus: set[int] | None = None
) -> dict[str, Any]:
    """One client run against a fresh server on a free port; returns ``parse()``'s dict.

    The client inherits this process's CPU affinity; the server gets ``echo_cpus`` when given.
    """
    port = free_udp_port(host)
    server = subprocess.Popen(
        [exe, "server", "-b", f"{host}:{port}", "-i", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        if echo_cpus:
            os.sched_setaffinity(server.pid, echo_cpus)
        time.sleep(SERVER_START_S)
        if server.poll() is not None:
            raise PerfError(f"irtt server exited {server.returncode} at start: {server.stderr.read().decode()[-300:]}")
        interval_us = 1_000_000 // mps
        with tempfile.TemporaryDirectory() as tmp:
            out_path = Path(tmp) / "irtt.json"
            cmd = [
                exe,
                "client",
                "-i",
                f"{interval_us}us",
                "-d",
                f"{duration_s}s",
                "-l",
                str(packet_bytes),
                f"--wait={WAIT}",
                "-Q",
                "-o",
                str(out_path),
                f"{host}:{port}",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30, check=False)
            if done.returncode != 0:
                raise PerfError(f"irtt client exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")
            result = parse(json.loads(out_path.read_text()), duration_s * mps)
        result["command"] = " ".join(cmd[:-4] + cmd[-1:])
        return result
    finally:
        stop(server)
