"""Result objects built from synthetic pongs through the real parent path (frames -> PlatformRun -> result)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.results.builder import platform_result, write_json
from engine.parent.results.model import MultiResult, PlatformResult, dumps, load
from engine.parent.settings import PlatformContext, RunSettings
from ipc.frames import Done, Hello, Lost, Samples

WALL0 = 1_790_000_000_000_000_000
INTERVAL_NS = 1_000_000


def run_of(
    rtt_ns: np.ndarray,
    platform: str = "udp",
    lost: tuple[int, ...] = (),
    late: tuple[int, ...] = (),
    wall0_ns: int = WALL0,
    lost_upstream: tuple[int, ...] = (),
) -> PlatformRun:
    """A run whose pongs took ``rtt_ns`` (ns), symmetric paths, 20 µs processing, the agent on the same clock.

    Ping k is sent k ms after ``wall0_ns``; the seqs in ``lost`` got no pong in time (skipped in ``rtt_ns``'
    order), those also in ``late`` got one after the timeout; those in ``lost_upstream`` the pongs' running
    counts say never reached the agent (the rest: unknown).
    """
    n = len(rtt_ns) + len(lost)
    seqs = np.array([s for s in range(1, n + 1) if s not in set(lost)], dtype=np.int64)
    t1 = seqs * INTERVAL_NS
    rtt_ns = np.asarray(rtt_ns, dtype=np.int64)
    t2 = wall0_ns + t1 + (rtt_ns - 20_000) // 2
    run = PlatformRun(platform)
    run.add(Hello(platform, 1, wall0_ns, 0, 50))
    run.add(
        Samples(
            seqs.tolist(),
            (t1 - 5_000).tolist(),
            t1.tolist(),
            (t1 + rtt_ns).tolist(),
            t2.tolist(),
            (t2 + 20_000).tolist(),
            [20_000] * len(seqs),
        )
    )
    if lost:
        run.add(Lost(list(lost), [s * INTERVAL_NS for s in lost], [s * INTERVAL_NS for s in lost]))
    run.add(Done(sent=n, counters={"late": len(late)}, late_seqs=list(late), lost_upstream=list(lost_upstream)))
    return run


def result_of(
    rtt_ns: np.ndarray,
    platform: str = "udp",
    location: str = "lab",
    start: float = 1_790_000_000.0,
    lost: tuple[int, ...] = (),
    late: tuple[int, ...] = (),
    lost_upstream: tuple[int, ...] = (),
) -> PlatformResult:
    """The result a reader of the file gets (dumped and loaded back)."""
    settings = RunSettings(
        run_id=f"{platform}-{location}-{int(start)}",
        iterations=len(rtt_ns) + len(lost),
        timeout_ms=1000,
        cooldown_ms=INTERVAL_NS / 1e6,
        warmup=0,
        payload_bytes=0,
        location_id=location,
    )
    ctx = PlatformContext(None, ClockMode.SAME_HOST)
    duration = (len(rtt_ns) + len(lost)) * INTERVAL_NS / 1e9
    run = run_of(rtt_ns, platform, lost, late, wall0_ns=round(start * 1e9), lost_upstream=lost_upstream)
    r = platform_result(run, settings, ctx, start, start + duration)
    return load(dumps(r).encode())


def write(path: Path, *results: PlatformResult) -> Path:
    """One result as the original's single-platform file, several as one side-by-side file."""
    if len(results) == 1:
        write_json(path, results[0])
    else:
        write_json(path, MultiResult(results[0].metadata.run_id, {r.platform: r for r in results}, {}))
    return path
