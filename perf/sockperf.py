"""The reference row: ``sockperf ping-pong`` against a ``sockperf server``, both on loopback.

sockperf prints one-way latency (RTT/2) unless asked for ``--full-rtt``; we ask
when the installed version knows the flag and otherwise double what it prints,
so every number leaving this module is a round trip in µs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from typing import Any

from perf import PerfError

#: How long the server may take to print that it is listening.
SERVER_READY_S = 5.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PERCENTILE = re.compile(r"percentile\s+([0-9.]+)\s*=\s*([0-9.]+)")
_MINMAX = re.compile(r"<(MIN|MAX)>\s+observation\s*=\s*([0-9.]+)")
_AVG = re.compile(r"avg-(rtt|lat)\s*=\s*([0-9.]+)")
_VALID = re.compile(r"\[Valid Duration\].*?SentMessages=(\d+);\s*ReceivedMessages=(\d+)")
_DROPPED = re.compile(r"#\s*dropped messages\s*=\s*(\d+)")
_VERSION = re.compile(r"version\s+#?\s*([0-9][^\s\x1b]*)")


def version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    m = _VERSION.search(_ANSI.sub("", out.stdout + out.stderr))
    return m.group(1) if m else "unknown"


def supports_full_rtt(exe: str) -> bool:
    out = subprocess.run([exe, "ping-pong", "--help"], capture_output=True, text=True, timeout=10, check=False)
    return "--full-rtt" in out.stdout + out.stderr


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse(text: str, full_rtt: bool) -> dict[str, Any]:
    """Percentiles, min/max/avg and counts from a ping-pong report, as RTT in µs.

    Raises ``PerfError`` when no percentile line is found (the client never got
    a reply, or the output format changed).
    """
    text = _ANSI.sub("", text)
    scale = 1.0 if full_rtt else 2.0  # without --full-rtt sockperf prints RTT/2
    percentiles = {float(p): float(v) * scale for p, v in _PERCENTILE.findall(text)}
    if 50.0 not in percentiles or 99.0 not in percentiles:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise PerfError(f"sockperf printed no percentile lines; last output:\n{tail}")
    extremes = {k.lower(): float(v) * scale for k, v in _MINMAX.findall(text)}
    avg = _AVG.search(text)
    valid = _VALID.search(text)
    dropped = _DROPPED.search(text)
    return {
        "p50_us": percentiles[50.0],
        "p99_us": percentiles[99.0],
        "percentiles_us": {f"{p:g}": v for p, v in sorted(percentiles.items())},
        "min_us": extremes.get("min"),
        "max_us": extremes.get("max"),
        "mean_us": float(avg.group(2)) * scale if avg else None,
        "samples": int(valid.group(2)) if valid else None,
        "dropped": int(dropped.group(1)) if dropped else None,
        "printed_unit": "rtt" if full_rtt else "one-way (doubled)",
    }


def run(
    exe: str, msg_size: int, mps: int, duration_s: int, host: str = "127.0.0.1", echo_cpus: set[int] | None = None
) -> dict[str, Any]:
    """One ping-pong run against a fresh server on a free port; returns ``parse()``'s dict.

    The client inherits this process's CPU affinity; the server gets ``echo_cpus`` when given.
    """
    full_rtt = supports_full_rtt(exe)
    port = free_udp_port(host)
    server = subprocess.Popen(
        [exe, "server", "-i", host, "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if echo_cpus:
            os.sched_setaffinity(server.pid, echo_cpus)
        _wait_ready(server)
        cmd = [
            exe,
            "ping-pong",
            "-i",
            host,
            "-p",
            str(port),
            "-m",
            str(msg_size),
            "--mps",
            str(mps),
            "-t",
            str(duration_s),
        ]
        if full_rtt:
            cmd.append("--full-rtt")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30, check=False)
        if out.returncode != 0:
            raise PerfError(f"sockperf ping-pong exited {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}")
        result = parse(out.stdout + out.stderr, full_rtt)
        result["command"] = " ".join(cmd)
        return result
    finally:
        stop(server)


def _wait_ready(server: subprocess.Popen[str]) -> None:
    """Read the server's banner until it says it blocks on its socket (or give up after a while)."""
    ready = threading.Event()

    def drain() -> None:
        for line in server.stdout:  # keep draining so the server never blocks on a full pipe
            if "socket" in line or "PORT =" in line:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + SERVER_READY_S
    while not ready.is_set() and time.monotonic() < deadline:
        if server.poll() is not None:
            raise PerfError(f"sockperf server exited {server.returncode} at start")
        ready.wait(0.02)
    time.sleep(0.05)  # the banner comes just before the blocking receive


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, 3 s, then SIGKILL (a plain wait: a drain thread may still be reading its stdout)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
