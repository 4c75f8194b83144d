"""Running the rows alternately and reducing rounds to medians, then the other benchmarks.

Each round runs sockperf, irtt, then the engine, then (optionally) the Python
reference, back to back; several rounds give each row a median over runs that
saw the same drift in machine load and frequency.

Then each section in ``SECTIONS`` runs once: a module with a ``run`` that
measures (its own reference included) and a ``rows`` that turns what it
measured into table lines (``report.row``). A new benchmark (the InfluxDB
sink's, ``perf/sink.py``) is one more entry there.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from engine.parent.supervision.embedded_agent import EmbeddedAgent
from perf import (
    PerfError,
    analysis,
    engine_udp,
    find_tool,
    first_pong,
    impair,
    irtt,
    memory,
    pipeline,
    pyref,
    schedule,
    sink,
    sockperf,
)

#: Rows in the order they run within a round.
ROWS = ("sockperf", "irtt", "engine", "engine_sink", "engine_stream", "engine_poll", "python")
#: The engine_poll row's --busy-poll-us: on udp the echo then does not sleep while a ping is due, as
#: sockperf's client does not while its pong is (the worker's t4 is the kernel's: it need not poll).
BUSY_POLL_US = 1000


@dataclass(frozen=True)
class SuiteSettings:
    mode: str  # "full" or "quick"
    rounds: int
    duration_s: int
    mps: int = 1000
    warmup: int = 200
    python_row: bool = True
    #: Rows each round runs (all of ROWS by default); sockperf and engine are always among them.
    rows: tuple[str, ...] = ROWS
    sockperf_exe: str | None = None
    pin: bool = True
    sections: tuple[str, ...] = ()
    #: Per-rate run length of the schedule section, samples of the pipeline and memory sections,
    #: and pings of the worker-memory run (set from --quick by the caller).
    schedule_s: float = 5.0
    samples: int = 1_000_000
    memory_pings: int = 20_000

    @property
    def iterations(self) -> int:
        return self.duration_s * self.mps

    @property
    def cooldown_ms(self) -> float:
        return 1000.0 / self.mps


#: name -> (measure: (settings, agent URL, say) -> data, rows: data -> table lines), in run order.
#: Sections that need the echo agent get the suite's; first_pong starts its own, as users' runs do.
#: They run unpinned (see run_suite).
SECTIONS: dict[str, tuple[Callable[[SuiteSettings, str, Callable[[str], None]], Any], Callable[[Any], list]]] = {
    "schedule": (lambda cfg, url, say: schedule.run(url, cfg.schedule_s, say), schedule.rows),
    "pipeline": (lambda cfg, url, say: pipeline.run(cfg.samples, say), pipeline.rows),
    "memory": (lambda cfg, url, say: memory.run(url, cfg.samples, cfg.memory_pings), memory.rows),
    "first_pong": (lambda cfg, url, say: first_pong.run(say), first_pong.rows),
    "sink": (lambda cfg, url, say: sink.section(20 * cfg.iterations, say), sink.rows),
    "impair": (lambda cfg, url, say: impair.run(url, say, 200 if cfg.mode == "quick" else 1000), impair.rows),
    "analysis": (lambda cfg, url, say: analysis.run(10, cfg.samples // 10), analysis.rows),
}


def host_facts(sockperf_exe: str, irtt_exe: str | None = None) -> dict[str, Any]:
    """What the numbers depend on, recorded beside them (pyperf's habit)."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "uvloop": _version("uvloop"),
        "sockperf": sockperf.version(sockperf_exe),
        "sockperf_full_rtt": sockperf.supports_full_rtt(sockperf_exe),
        "irtt": irtt.version(irtt_exe) if irtt_exe else None,
        "engine_commit": _git_commit(),
    }


def _git_commit() -> str:
    """HEAD of the checkout, with ``+dirty`` when engine code has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "engine", "transports", "agent", "ipc"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if head and dirty else (head or "unknown")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def placement(pin: bool) -> tuple[set[int], set[int]] | None:
    """(client CPUs, echo CPUs): one CPU each, different, when pinning and there are two to use.

    Unpinned, where the scheduler puts the two ends of a loopback ping-pong
    decides the RTT (same core ~14 µs, two cores ~30 µs, migrating 30-55 µs for
    sockperf on the 2-vCPU box this suite was written on), and it decides it
    differently for each row. Pinned, every row pays the same cross-core hop.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None
    return {cpus[0]}, {cpus[1]}


def run_suite(cfg: SuiteSettings, say: Callable[[str], None]) -> dict[str, Any]:
    """All rounds; returns the report's measurement part (settings, host, rounds, medians).

    Pinned runs put every client (sockperf client, this process with the
    engine's parent and spawned worker, the Python client) on one CPU and every
    echo (sockperf server, the embedded agent, the Python echo) on another;
    children inherit the affinity of this process at their start.
    """
    exe = find_tool(cfg.sockperf_exe or "sockperf", "install the Debian package `sockperf` or pass --sockperf PATH")
    irtt_exe = find_tool("irtt", "install the Debian package `irtt`") if "irtt" in cfg.rows else None
    size = engine_udp.ping_size(cfg.iterations, cfg.warmup)
    host = host_facts(exe, irtt_exe)
    rounds: list[dict[str, Any]] = []
    started = time.time()
    original = os.sched_getaffinity(0)
    pins = placement(cfg.pin)
    client_cpus, echo_cpus = pins if pins else (None, None)
    where = f"clients on CPU {min(client_cpus)}, echoes on CPU {min(echo_cpus)}" if pins else "unpinned"
    say(
        f"perf: {cfg.mode} run, {cfg.rounds} round(s) of {cfg.duration_s} s per row at {cfg.mps} msg/s, {size}-byte pings, {where}"
    )
    try:
        if echo_cpus:
            os.sched_setaffinity(0, echo_cpus)  # the embedded agent inherits this at spawn
        with (
            EmbeddedAgent("webrtc") as agent_url,
            sink.victoria_metrics() if "engine_sink" in cfg.rows else contextlib.nullcontext() as vm_url,
        ):
            if client_cpus:
                os.sched_setaffinity(0, client_cpus)  # sockperf client, engine worker, python client
            for i in range(1, cfg.rounds + 1):
                row: dict[str, Any] = {}
                say(f"  round {i}/{cfg.rounds}: sockperf")
                row["sockperf"] = sockperf.run(exe, size, cfg.mps, cfg.duration_s, echo_cpus=echo_cpus)
                if irtt_exe:
                    say(f"  round {i}/{cfg.rounds}: irtt")
                    row["irtt"] = irtt.run(irtt_exe, size, cfg.mps, cfg.duration_s, echo_cpus=echo_cpus)
                say(f"  round {i}/{cfg.rounds}: engine (udp)")
                row["engine"] = engine_udp.run(agent_url, cfg.iterations, cfg.warmup, cfg.cooldown_ms)
                if "engine_sink" in cfg.rows:
                    say(f"  round {i}/{cfg.rounds}: engine (udp) with the InfluxDB sink on")
                    row["engine_sink"] = sink.engine_with_sink(
                        agent_url, vm_url, cfg.iterations, cfg.warmup, cfg.cooldown_ms
                    )
                if "engine_stream" in cfg.rows:
                    say(f"  round {i}/{cfg.rounds}: engine (udp) with --stream to a file")
                    row["engine_stream"] = engine_udp.run(
                        agent_url, cfg.iterations, cfg.warmup, cfg.cooldown_ms, stream=True
                    )
                if "engine_poll" in cfg.rows:
                    say(f"  round {i}/{cfg.rounds}: engine (udp, --busy-poll-us {BUSY_POLL_US})")
                    row["engine_poll"] = engine_udp.run(
                        agent_url, cfg.iterations, cfg.warmup, cfg.cooldown_ms, BUSY_POLL_US
                    )
                if cfg.python_row and "python" in cfg.rows:
                    say(f"  round {i}/{cfg.rounds}: python ping-pong")
                    row["python"] = pyref.run(size, cfg.mps, cfg.iterations, cfg.warmup, echo_cpus=echo_cpus)
                rounds.append(row)
            # Sections run as users run the engine, where the scheduler places processes: pinned to
            # one CPU, the pipeline's parent and workers would share it and halve its throughput.
            os.sched_setaffinity(0, original)
            sections = {}
            for name in cfg.sections:
                say(f"  {name}")
                sections[name] = SECTIONS[name][0](cfg, agent_url, say)
    finally:
        os.sched_setaffinity(0, original)
    host["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "settings": {
            **asdict(cfg),
            "message_bytes": size,
            "iterations": cfg.iterations,
            "cooldown_ms": cfg.cooldown_ms,
            "placement": {"client_cpus": sorted(client_cpus), "echo_cpus": sorted(echo_cpus)} if pins else "unpinned",
        },
        "host": host,
        "started": started,
        "duration_s": round(time.time() - started, 1),
        "rounds": rounds,
        "medians": medians(rounds),
        "sections": sections,
    }


def medians(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per row, the median over rounds of every numeric field."""
    out: dict[str, dict[str, float]] = {}
    for name in ROWS:
        runs = [r[name] for r in rounds if name in r]
        if not runs:
            continue
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        values = {k: [r[k] for r in runs if r.get(k) is not None] for k in keys}
        out[name] = {k: statistics.median(v) for k, v in values.items() if v}
    if "sockperf" not in out or "engine" not in out:
        raise PerfError("a round produced no numbers")
    return out
