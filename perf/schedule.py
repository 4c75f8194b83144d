"""Schedule precision: the engine's send lag at 100, 1,000 and 5,000 pings/s, and its worker's CPU.

Send lag is t1 minus the ping's due instant (docs/ARCHITECTURE.md), read from the real
``udp`` engine run's statistics. The reference, measured in the same run on
the same CPU, is a bare timer: the engine's own ``Pacer`` (timerfd on uvloop)
in a fresh process whose callback only stamps the time. Its lag is what this
machine charges to wake a sleeping Python process on time; the ratio is what
the worker adds on top (encoding, sending, matching, the pipe to the parent).

CPU is the worker's own CPU time over the run's wall time, in cores; it
includes interpreter start, imports and the connect, so short runs overstate it.

Run as ``python -m perf.schedule timer RATE COUNT`` for the reference (prints one JSON line).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from perf import PerfError, engine_udp, report

RATES = (100, 1000, 5000)
#: The issue's targets, at 1,000 pings/s.
TARGET_P99_US = 200.0
#: Send lag p99 over the bare timer's, at 1,000 and 5,000 pings/s: housekeeping stays clear of sends.
TARGET_P99_VS_TIMER = 1.2
#: "Without burning a whole core": half a core leaves the other half to the agent and the parent.
TARGET_CPU_CORES = 0.5
WARMUP = 50


async def _bare_timer(rate: int, count: int) -> array:
    from engine.worker.pacer import Pacer

    lags = array("q")
    interval = round(1e9 / rate)
    pacer = Pacer(
        time.perf_counter_ns() + 20_000_000, interval, count, lambda k, due: lags.append(time.perf_counter_ns() - due)
    )
    pacer.start()
    await asyncio.wait_for(pacer.done, count / rate + 10)
    return lags


def timer_lag(rate: int, count: int) -> dict[str, float]:
    """The reference in a child process (fresh interpreter, like a worker); lag in µs."""
    out = subprocess.run(
        [sys.executable, "-m", "perf.schedule", "timer", str(rate), str(count)],
        capture_output=True,
        text=True,
        timeout=count / rate + 60,
        check=False,
    )
    if out.returncode != 0:
        raise PerfError(f"bare timer exited {out.returncode}: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def run(agent_url: str, duration_s: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Per rate: the engine's send lag and CPU, and the bare timer's lag; µs."""
    out: dict[str, Any] = {}
    for rate in RATES:
        count = max(round(rate * duration_s), 100)
        say(f"  schedule: {rate} pings/s, engine and bare timer")
        engine = engine_udp.run(agent_url, count, WARMUP, 1000.0 / rate)
        timer = timer_lag(rate, count + WARMUP)
        out[str(rate)] = {
            "pings": count,
            "send_lag_p50_us": engine["send_lag_p50_us"],
            "send_lag_p99_us": engine["send_lag_p99_us"],
            "send_lag_max_us": engine["send_lag_max_us"],
            # CPU from the first ping on over the schedule's length: imports and joining are not the pacer's.
            "worker_cpu_cores": engine["worker_measuring_cpu_s"] / (count / rate),
            "timer_lag_p50_us": timer["p50_us"],
            "timer_lag_p99_us": timer["p99_us"],
            "timer_lag_max_us": timer["max_us"],
            "lost": engine["lost"],
        }
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "timer":
        import uvloop

        lags_us = (
            np.frombuffer(uvloop.run(_bare_timer(int(sys.argv[2]), int(sys.argv[3]))), dtype=np.int64)[WARMUP:] / 1e3
        )
        p50, p99 = np.percentile(lags_us, [50, 99])
        print(json.dumps({"p50_us": float(p50), "p99_us": float(p99), "max_us": float(lags_us.max())}))
    else:
        sys.exit("usage: python -m perf.schedule timer RATE COUNT")


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per rate: send lag against the bare timer (p99 at 1,000/s has the issue's target), then CPU."""
    out = []
    for rate, d in data.items():
        for stat in ("p50", "p99", "max"):
            engine, timer = d[f"send_lag_{stat}_us"], d[f"timer_lag_{stat}_us"]
            gated = rate in ("1000", "5000") and stat == "p99"
            out.append(
                report.row(
                    f"send lag {stat} @{int(rate):,}/s, engine / bare timer (µs)",
                    engine,
                    reference=timer,
                    ratio=engine / timer if engine is not None and timer else None,
                    ratio_name=f"send_lag_{stat}_vs_timer_{rate}" if rate == "1000" and stat != "max" else None,
                    target=TARGET_P99_VS_TIMER if gated else None,
                )
            )
            if rate == "1000" and stat == "p99":
                out.append(report.row("send lag p99 @1,000/s (µs)", engine, target=TARGET_P99_US))
        out.append(
            report.row(
                f"worker CPU @{int(rate):,}/s (cores)",
                d["worker_cpu_cores"],
                target=TARGET_CPU_CORES if rate == "1000" else None,
            )
        )
    return out
