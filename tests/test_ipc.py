"""Worker -> parent frames: encoding, a real spawned writer, and a worker killed mid-run."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal

import pytest

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.supervision.orchestrator import Orchestrator
from engine.parent.supervision.worker_process import WorkerProcess
from ipc import frames
from ipc.frames import Done, Event, Hello, Lost, Samples
from ipc.pipe import FrameWriter, read_frames
from ipc.spec import WorkerSpec

MS = 1_000_000

FRAMES = [
    Hello("udp", 4242, 1_700_000_000_123_456_789, 98_765_432_100, 120, {"aiortc": "1.9.0"}),
    Hello("webrtc", 1, 2, 3, 4),
    Samples(
        seq=[6, 7, 9],
        due=[10, 20, 30],
        t1=[11, 21, 31],
        t4=[2**62, 25, 35],  # large ints survive msgpack
        t2=[1_700_000_000_000_000_001, 0, 3],
        t3=[1_700_000_000_000_000_051, 0, 4],
        processing_ns=[50, 500_000, 1],
    ),
    Samples([], [], [], [], [], [], []),
    Lost(seq=[8], due=[25], t1=[26]),
    Event("connected", "12.3 ms"),
    Event("error", "udp: boom", fatal=True),
    Done(
        sent=105,
        counters={"late": 1, "duplicate": 0, "out_of_order": 2, "malformed": 0, "unknown": 3},
        partial=True,
        legacy_agent=True,
    ),
    Done(sent=0, counters={}),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_every_frame_type_round_trips(frame: frames.Frame) -> None:
    data = frames.encode(frame)
    assert isinstance(data, bytes)
    back = frames.decode(data)
    assert type(back) is type(frame)
    assert back == frame


def test_decode_refuses_garbage() -> None:
    import msgspec

    with pytest.raises(msgspec.DecodeError):
        frames.decode(b"\xc1")  # msgpack's never-used byte
    with pytest.raises(msgspec.ValidationError):
        frames.decode(msgspec.msgpack.encode({"type": "Nope", "x": 1}))


# -- a real writer in a spawned process ---------------------------------------------------------

N_FRAMES = 3_000
COLUMN = 64  # samples per frame: ~3 MB in all, far beyond a pipe's 64 KiB buffer


def sample_frame(i: int) -> Samples:
    base = i * COLUMN
    seqs = list(range(base + 1, base + COLUMN + 1))
    return Samples(
        seq=seqs,
        due=[s * 20 * MS for s in seqs],
        t1=[s * 20 * MS + 7 for s in seqs],
        t4=[s * 20 * MS + 7 + MS + i for s in seqs],
        t2=[1_700_000_000_000_000_000 + s for s in seqs],
        t3=[1_700_000_000_000_000_100 + s for s in seqs],
        processing_ns=[100] * COLUMN,
    )


def write_frames(conn, n: int) -> None:
    """Spawned target: write a Hello, ``n`` Samples frames and a Done through a FrameWriter."""

    async def main() -> None:
        writer = await FrameWriter.open(os.dup(conn.fileno()))
        conn.close()
        writer.send(Hello("udp", os.getpid(), 1, 2, 3))
        for i in range(n):
            writer.send(sample_frame(i))  # never blocks: what the pipe cannot take is buffered
        writer.send(Done(sent=n * COLUMN, counters={}))
        await writer.drain_and_close(timeout=30.0)

    asyncio.run(main())


def test_frames_from_a_spawned_writer_arrive_whole_and_in_order() -> None:
    ctx = multiprocessing.get_context("spawn")
    reader, writer_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=write_frames, args=(writer_end, N_FRAMES), daemon=True)
    proc.start()
    writer_end.close()
    got: list[frames.Frame] = []
    eof = False
    try:
        while not eof:
            ready = list(read_frames([reader], timeout=20.0))
            assert ready, "no frame within 20 s"
            for conn, frame in ready:
                assert conn is reader
                if frame is None:
                    eof = True
                else:
                    got.append(frame)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        reader.close()
    assert proc.exitcode == 0
    assert len(got) == N_FRAMES + 2
    assert isinstance(got[0], Hello) and got[0].pid == proc.pid
    assert got[1:-1] == [sample_frame(i) for i in range(N_FRAMES)]
    assert got[-1] == Done(sent=N_FRAMES * COLUMN, counters={})


# -- a worker killed mid-run ---------------------------------------------------------------------


def test_worker_killed_mid_run_is_reported_and_its_samples_kept(udp_echo: dict) -> None:
    spec = WorkerSpec(
        platform="udp",
        credentials=udp_echo,
        run_id="kill-test",
        iterations=20_000,  # 40 s at 2 ms: it ends by being killed long before
        warmup=5,
        interval_ns=2 * MS,
        timeout_ns=1_000 * MS,
        payload_bytes=udp_echo["min_ping_bytes"],  # as the runner pads for this echo
        connect_timeout_s=10.0,
    )
    killed: dict[str, int] = {}

    def progress(runs: dict[str, PlatformRun]) -> None:
        run = runs["udp"]
        if not killed and run.hello is not None and run.received >= 50:
            killed["received"] = run.received
            os.kill(run.hello.pid, signal.SIGKILL)

    orch = Orchestrator([spec], {"udp": WorkerProcess("udp")}, progress=progress)
    runs = orch.run()
    run = runs["udp"]

    assert killed, "the worker never reported 50 samples"
    assert run.exit_code == -signal.SIGKILL
    assert run.done is None and run.partial is True
    assert run.fatal_error is not None
    assert f"exited with code {-signal.SIGKILL}" in run.fatal_error
    assert not orch.interrupted
    # Everything that reached the parent before the kill is kept, and is well formed.
    assert run.received >= killed["received"] >= 50
    a = run.arrays()
    assert (a["seq"] > spec.warmup).all()
    assert len(set(a["seq"].tolist())) == run.received
    rtt = a["t4"] - a["t1"]
    assert ((rtt > 0) & (rtt <= spec.timeout_ns)).all()
    assert (a["processing_ns"] >= 0).all() and (a["t2"] > 0).all()
    assert run.rtt_hist.get_total_count() + run.out_of_range == run.received
