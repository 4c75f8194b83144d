"""Pipeline throughput: samples per second the parent takes in from 1, 2 and 4 workers.

Real spawned processes write synthetic ``Samples`` frames through the
worker's own ``FrameWriter`` as fast as the pipe takes them; the parent reads
them with ``read_frames`` into ``PlatformRun`` (HDR histograms + arrays), as
the orchestrator does. The reference, in the same run, is the raw pipe: one
such worker, the parent only receiving the frames' bytes. The ratio "raw ÷
pipeline" is what decoding and aggregation cost (bigger is worse, like every
ratio here).

Frames carry 1,000 samples (a worker's 50 ms batch at 20,000 pings/s); at
1,000 pings/s a batch holds 50 and the parent has 20 times less to do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from engine.parent.analysis.aggregator import PlatformRun
from ipc.frames import Done, Hello
from ipc.pipe import FrameWriter, read_frames
from perf import PerfError, report, synthetic

WORKERS = (1, 2, 4)
BATCH = 1000
#: The issue's target with one worker.
TARGET_SAMPLES_S = 200_000
#: A worker waits while this much is buffered for the parent, so its memory stays bounded.
MAX_BUFFERED = 4 << 20
#: Distinct frames a worker cycles through (building a fresh one per send would time the generator).
DISTINCT_FRAMES = 16
DEADLINE_S = 120.0


async def _stream(conn: Connection, samples: int) -> None:
    writer = await FrameWriter.open(os.dup(conn.fileno()))
    conn.close()
    frames = list(synthetic.samples(BATCH * DISTINCT_FRAMES, BATCH))
    writer.send(Hello("synthetic", 0, 0, 0, 0))
    for i in range(samples // BATCH):
        writer.send(frames[i % DISTINCT_FRAMES])
        while writer.buffered > MAX_BUFFERED:
            await asyncio.sleep(0.0005)
    writer.send(Done(sent=samples, counters={}))
    await writer.drain_and_close(DEADLINE_S)


def _worker(conn: Connection, go: Any, samples: int) -> None:
    """Spawned process: wait for the parent's go, then stream ``samples`` samples and say Done."""
    import uvloop

    go.wait(DEADLINE_S)
    uvloop.run(_stream(conn, samples))


def _measure(workers: int, samples_each: int, aggregate: bool) -> float:
    """Samples per second from the go signal to the last worker's end of file."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    conns, procs = [], []
    for _ in range(workers):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(writer, go, samples_each), daemon=True)
        proc.start()
        writer.close()
        conns.append(reader)
        procs.append(proc)
    runs = {conn: PlatformRun("synthetic") for conn in conns}
    received = 0
    try:
        time.sleep(0.2 + 0.1 * workers)  # let the spawned interpreters finish importing
        go.set()
        start = time.perf_counter()
        deadline = start + DEADLINE_S
        open_conns = list(conns)
        while open_conns and time.perf_counter() < deadline:
            if aggregate:
                for conn, frame in read_frames(open_conns, 0.1):
                    if frame is None:
                        open_conns.remove(conn)
                    else:
                        runs[conn].add(frame)
            else:
                for conn in wait(open_conns, 0.1):
                    try:
                        received += len(conn.recv_bytes())
                    except EOFError:
                        open_conns.remove(conn)
        elapsed = time.perf_counter() - start
        if open_conns:
            raise PerfError(f"pipeline: {len(open_conns)} worker(s) still streaming after {DEADLINE_S:g} s")
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        for conn in conns:
            conn.close()
    if aggregate and any(run.received != samples_each or run.done is None for run in runs.values()):
        raise PerfError("pipeline: the parent did not receive every sample")
    if not aggregate and not received:
        raise PerfError("pipeline: the raw reader received nothing")
    return workers * samples_each / elapsed


def run(samples: int, say: Callable[[str], None]) -> dict[str, Any]:
    """``samples`` per configuration, split across its workers; samples/s."""
    say(f"  pipeline: raw pipe, 1 worker, {samples:,} samples")
    out: dict[str, Any] = {"samples": samples, "batch": BATCH, "raw_1": _measure(1, samples, aggregate=False)}
    for n in WORKERS:
        say(f"  pipeline: {n} worker(s) into the aggregator")
        out[f"aggregated_{n}"] = _measure(n, samples // n // BATCH * BATCH, aggregate=True)
    return out


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Samples/s per worker count against the raw pipe; the issue's target is on one worker."""
    raw = data["raw_1"]
    return [
        report.row(
            f"pipeline, {n} worker{'s' if n > 1 else ''} into the aggregator (samples/s)",
            data[f"aggregated_{n}"],
            reference=raw,
            ratio=raw / data[f"aggregated_{n}"],
            ratio_name="pipeline_raw_vs_1_worker" if n == 1 else None,
            target=TARGET_SAMPLES_S if n == 1 else None,
            op="≥",
            target_on="measured",
            fmt=",.0f",
        )
        for n in WORKERS
    ]
