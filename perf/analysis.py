"""Analysis after the run: the side-by-side comparison at a million pings per platform, and the report.

compare: ``engine.parent.results.compare.compare`` on two platforms of N RTTs each
(AR(1) noise, so blocks are long as in a real run), in a fresh process: wall
time and the rise of peak RSS (VmHWM). Reference, same process: sorting both
samples once (the least any quantile method does). Target (issue 15): at
N = 1M, ≤ 2 s and ≤ 100 MB.

report: ``benchmark-runner report DIR --html`` over F result files of N pings
each, as users run it (a fresh process): wall time and peak RSS. Reference:
loading the same files with ``result_model.load`` in one process.

``python -m perf.analysis [--quick]`` runs just this section and prints its
rows (the suite runs it as the ``analysis`` section).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from perf import PerfError, report
from perf.memory import CHILD_TIMEOUT_S, child_json, reset_hwm, status_kb

TARGET_S = 2.0
TARGET_MB = 100.0


def _series(n: int, seed: int, median_ms: float):
    """RTTs (ms) with AR(1) log-noise, phi 0.9: consecutive pings share state, as on a real path."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n) * 0.1
    x = np.empty(n)
    acc = 0.0
    chunk = 65536
    for start in range(0, n, chunk):  # a first-order recursion, a chunk at a time
        part = noise[start : start + chunk]
        out = np.empty(len(part))
        for i, e in enumerate(part.tolist()):
            acc = 0.9 * acc + e
            out[i] = acc
        x[start : start + chunk] = out
    return median_ms * np.exp(x)


def compare_peak(n: int) -> dict[str, Any]:
    """In this process: the run's comparison of two platforms of n pings each; time (s) and RSS rise (MB)."""
    import numpy as np

    from engine.parent.results.compare import compare
    from engine.parent.results.model import Statistics

    stats = Statistics(**{**dict.fromkeys(Statistics.__struct_fields__, 0), "total_messages": n})
    rtts = {"a": _series(n, 1, 1.0), "b": _series(n, 2, 1.01)}
    compare({k: v[:5000] for k, v in rtts.items()}, {"a": stats, "b": stats})  # warm: imports, BLAS threads
    t0 = time.perf_counter()
    for v in rtts.values():
        np.sort(v)
    sort_s = time.perf_counter() - t0
    before_kb = status_kb("VmRSS")
    reset_hwm()  # VmHWM := current RSS, so the peak is the comparison's
    t0 = time.perf_counter()
    out = compare(rtts, {"a": stats, "b": stats})
    elapsed = time.perf_counter() - t0
    return {
        "n": n,
        "compare_s": elapsed,
        "sort_s": sort_s,
        "rss_rise_mb": (status_kb("VmHWM") - before_kb) / 1024,
        "samples_mb": 2 * n * 8 / 2**20,
        "significant": out["pairs"][0]["significant"],
    }


def _write_files(folder: Path, files: int, n: int) -> None:
    import numpy as np

    from engine.parent.analysis.offset import ClockMode
    from engine.parent.results.builder import platform_result, write_json
    from engine.parent.settings import PlatformContext, RunSettings
    from testbed.synthetic_results import run_of

    for i in range(files):
        platform = ("udp", "webrtc")[i % 2]
        rtt = (_series(n, i, 1.0 + i % 2) * 1e6).astype(np.int64)
        settings = RunSettings(f"r{i}", n, 1000.0, 1.0, 0, 0, ("us-west-2", "eu-central-1")[i // 2 % 2])
        r = platform_result(run_of(rtt, platform), settings, PlatformContext(None, ClockMode.SAME_HOST), 1.79e9, 1.79e9)
        write_json(folder / f"run{i}.json", r)


def run(files: int, n: int) -> dict[str, Any]:
    """Both measurements, each in a fresh process (the report's first: the RSS read is the max over children)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_files(folder, files, n)
        from engine.parent.results.model import load

        t0 = time.perf_counter()
        for path in sorted(folder.glob("*.json")):
            load(path.read_bytes())
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "bench_cli", "report", str(folder), "--html", str(folder / "r.html")],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
        report_s = time.perf_counter() - t0
        if out.returncode != 0:
            raise PerfError(f"report exited {out.returncode}: {out.stderr.strip()[-300:]}")
        report_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        html_kb = (folder / "r.html").stat().st_size / 1024
    compare_data = child_json("perf.analysis", "compare", str(1_000_000 if n >= 100_000 else n * 10))
    return {
        **compare_data,
        "files": files,
        "pings": n,
        "report_s": report_s,
        "load_s": load_s,
        "report_rss_mb": report_rss_mb,
        "html_kb": html_kb,
    }


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    n = f"{data['n']:,}"
    return [
        report.row(
            f"comparison of 2 platforms x {n} pings, vs sorting both (s)",
            data["compare_s"],
            reference=data["sort_s"],
            ratio=data["compare_s"] / data["sort_s"],
            target=TARGET_S,
            target_on="measured",
        ),
        report.row(
            f"comparison of 2 platforms x {n} pings: peak RSS rise, vs the samples (MiB)",
            data["rss_rise_mb"],
            reference=data["samples_mb"],
            ratio=data["rss_rise_mb"] / data["samples_mb"],
            target=TARGET_MB,
            target_on="measured",
        ),
        report.row(
            f"report --html of {data['files']} files x {data['pings']:,} pings, vs loading them (s)",
            data["report_s"],
            reference=data["load_s"],
            ratio=data["report_s"] / data["load_s"],
        ),
        report.row(f"report --html peak RSS, {data['html_kb']:.0f} KiB page (MiB)", data["report_rss_mb"]),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "compare":
        print(json.dumps(compare_peak(int(sys.argv[2]))))
    elif len(sys.argv) <= 2:
        quick = sys.argv[1:] == ["--quick"]
        data = run(10, 10_000 if quick else 100_000)
        for line in rows(data):
            print(json.dumps(line))
    else:
        sys.exit("usage: python -m perf.analysis [--quick] | compare N")
