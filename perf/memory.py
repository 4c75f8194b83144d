"""Memory: the parent's peak RSS per million samples, and a worker's peak RSS.

Parent: a fresh child process feeds N synthetic samples through the real
parent path (msgspec frames decoded into ``PlatformRun``, then
``platform_result`` and ``results.write_json`` to a scratch file) and reports
how far its peak RSS (``VmHWM``) rose over its RSS just before, per sample.
The reference is the raw bytes those samples occupy in the parent's columns
(``aggregator.BYTES_PER_SAMPLE``: 44 bytes a sample), so the ratio says how
many copies of the raw data exist at the peak, whatever the machine.

Worker: the worker's own peak RSS since exec (VmHWM, which it reports in its
Done frame) after a real ``udp`` engine run, against a process that only
imports what a worker imports: the ratio is what one run's bookkeeping adds
to the interpreter. (``ru_maxrss`` of reaped children would also count the
parent's pages shared by the fork before exec.)

Run as ``python -m perf.memory parent N`` or ``python -m perf.memory worker
AGENT_URL N`` (each prints one JSON line); the suite calls ``run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from perf import PerfError, report, synthetic

#: Samples per synthetic frame: what the worker ships in 50 ms at 20,000 pings/s.
FRAME_SAMPLES = 1000
#: The issue's target for the parent, MB per million samples.
#: A run's own bookkeeping may add at most a tenth to what a worker holds after its imports.
TARGET_WORKER_VS_BARE = 1.1
TARGET_MB_PER_MILLION = 64.0
CHILD_TIMEOUT_S = 300.0


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise PerfError(f"/proc/self/status has no {field}")


def parent_peak(n: int) -> dict[str, Any]:
    """In this process: feed n samples through the parent's path; RSS figures in MB."""
    from engine.parent.analysis.aggregator import BYTES_PER_SAMPLE, PlatformRun
    from engine.parent.analysis.offset import ClockMode
    from engine.parent.results.builder import platform_result, write_json
    from engine.parent.settings import PlatformContext, RunSettings
    from ipc.frames import Done, Hello, decode, encode

    settings = RunSettings("mem", n, 1000.0, 1.0, 0, 0, "perf")
    ctx = PlatformContext(None, ClockMode.ESTIMATE)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        # A small run first, so imports and lazily built tables are in the "before" figure.
        warm = PlatformRun("udp")
        for frame in synthetic.samples(2 * FRAME_SAMPLES, FRAME_SAMPLES):
            warm.add(decode(encode(frame)))
        write_json(out, platform_result(warm, settings, ctx, 0.0, 1.0))
        del warm
        before_kb = status_kb("VmRSS")
        reset_hwm()
        run = PlatformRun("udp")
        run.add(Hello("udp", 1, synthetic.WALL0_NS, 0, 50))
        for frame in synthetic.samples(n, FRAME_SAMPLES):  # one at a time: the worker's bytes are not ours
            run.add(decode(encode(frame)))
        run.add(Done(sent=n, counters={}))
        write_json(out, platform_result(run, settings, ctx, 0.0, 1.0))
        peak_kb = status_kb("VmHWM")
        file_mb = out.stat().st_size / 1e6
    return {
        "samples": n,
        "rss_before_mb": before_kb / 1024,
        "peak_rss_mb": peak_kb / 1024,
        "mb_per_million": (peak_kb - before_kb) / 1024 / (n / 1e6),
        "raw_mb_per_million": BYTES_PER_SAMPLE * 1e6 / 2**20,
        "json_mb": file_mb,
    }


def reset_hwm() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs), so the peak is this phase's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError as exc:
        raise PerfError(f"cannot reset the RSS high-water mark: {exc}") from exc


#: What a ``udp`` worker process holds before it measures anything: its imports; prints its peak RSS (kB).
BARE_WORKER = "import uvloop, engine.worker.main, transports.udp; print(engine.worker.main.peak_rss_kb())"


def worker_peak(agent_url: str, n: int) -> dict[str, Any]:
    """In this process: a bare worker, then a real ``udp`` run of n pings at 5,000/s; peak RSS in MB."""
    from perf import engine_udp

    bare = subprocess.run([sys.executable, "-c", BARE_WORKER], check=True, timeout=CHILD_TIMEOUT_S, capture_output=True)
    run = engine_udp.run(agent_url, n, 100, 0.2)
    return {"pings": n, "bare_rss_mb": int(bare.stdout) / 1024, "worker_rss_mb": run["worker_peak_rss_mb"]}


def child_json(module: str, *args: str) -> dict[str, Any]:
    """``python -m MODULE ARGS`` in a fresh process; its last stdout line, as JSON."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0:
        raise PerfError(f"{module} {args[0]} exited {out.returncode}: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(agent_url: str, samples: int, pings: int) -> dict[str, Any]:
    """Both measurements, each in a fresh process so earlier rows leave no memory behind."""
    parent = child_json("perf.memory", "parent", str(samples))
    worker = child_json("perf.memory", "worker", agent_url, str(pings))
    return {
        **parent,
        **worker,
        "parent_vs_raw": parent["mb_per_million"] / parent["raw_mb_per_million"],
        "worker_vs_bare": worker["worker_rss_mb"] / worker["bare_rss_mb"],
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "parent":
        print(json.dumps(parent_peak(int(sys.argv[2]))))
    elif len(sys.argv) == 4 and sys.argv[1] == "worker":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        print(json.dumps(worker_peak(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.exit("usage: python -m perf.memory parent N | worker AGENT_URL N")


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Parent MiB per million samples against the raw columns; worker peak against a bare worker."""
    return [
        report.row(
            "parent peak RSS per 1M samples, vs raw columns (MiB)",
            data["mb_per_million"],
            reference=data["raw_mb_per_million"],
            ratio=data["parent_vs_raw"],
            ratio_name="parent_rss_vs_raw_columns",
            target=TARGET_MB_PER_MILLION,
            target_on="measured",
        ),
        report.row(
            f"worker peak RSS, {data['pings']:,} pings, vs bare worker (MiB)",
            data["worker_rss_mb"],
            reference=data["bare_rss_mb"],
            ratio=data["worker_vs_bare"],
            ratio_name="worker_rss_vs_bare",
            target=TARGET_WORKER_VS_BARE,
        ),
    ]
