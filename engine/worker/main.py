"""Worker process: one platform, one transport, one uvloop; send, receive, stamp, forward.

A program of its own (``python -m engine.worker``), never a fork of the
parent: the SDKs run native threads a fork would copy half-alive, and a
fresh interpreter maps only what it measures with. Everything the worker
learns goes to the parent as frames; it computes no statistics and writes no
files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

import transports
from engine.worker.housekeeping import EventLog, Housekeeper
from engine.worker.pacer import Pacer, phased_start
from engine.worker.reply_poll import ReplyPoller
from engine.worker.session import LOSS_GRACE_NS, Session
from engine.worker.transport_rtt import RttReadings
from engine.worker.watch import Silence, session_end
from ipc import spec as worker_spec
from ipc.clocks.anchors import take_anchor
from ipc.frames import Done, Event, Hello
from ipc.lifeline import exit_with_parent
from ipc.pipe import FrameWriter
from ipc.spec import WorkerSpec
from transports.base import ClientTransport, Notify, Receiver, TransportError

log = logging.getLogger(__name__)

#: First ping goes out this long after the channel is up, so it is not sent mid-setup.
START_DELAY_NS = 20_000_000


def main(argv: list[str] | None = None) -> None:
    """Process entry point. Ctrl-C is the parent's to handle: it stops us with SIGTERM, as its death does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A stop that comes before the loop runs (the parent stopped or died while we started) is kept, not fatal.
    early_stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: early_stop.append(signum))
    parser = argparse.ArgumentParser(prog="python -m engine.worker", description="One benchmark worker.")
    parser.add_argument("--platform", choices=transports.PLATFORMS, required=True)
    parser.add_argument("--pipe", type=int, required=True, help="inherited file descriptor to write frames to")
    parser.add_argument("--parent", type=int, required=True, help="the parent's pid: exit when it dies")
    args = parser.parse_args(argv)
    exit_with_parent(args.parent)
    import uvloop

    # The SDK loads while the parent still starts the agent and handshakes; a broken install is reported in _run.
    with contextlib.suppress(Exception):
        transports.client_class(args.platform)
    data = sys.stdin.buffer.read()
    if not data:
        return  # the run ended before it reached us: nothing to measure, nothing to say
    spec = worker_spec.decode(data)
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})  # before the SDK connects and starts its threads: they inherit it
    logging.basicConfig(level=spec.log_level, format=f"[{spec.platform}] %(levelname)s %(message)s")

    uvloop.run(_run(args.pipe, spec, early_stop))


async def _run(pipe_fd: int, spec: WorkerSpec, early_stop: list[int], events: EventLog | None = None) -> None:
    """``events``: the housekeeping log, for a test that runs a worker in its own process."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if early_stop:
        stop.set()
    writer = await FrameWriter.open(pipe_fd)
    anchor = take_anchor()
    try:
        transport = transports.client_class(spec.platform)(reliable=spec.reliable)
    except Exception as exc:  # a broken SDK install: say so instead of dying silently
        writer.send(Event("error", f"{spec.platform}: cannot load transport: {type(exc).__name__}: {exc}", fatal=True))
        await writer.drain_and_close()
        return
    writer.send(
        Hello(spec.platform, os.getpid(), anchor.wall_ns, anchor.perf_ns, anchor.uncertainty_ns, transport.versions())
    )
    session = Session(
        run_id=spec.run_id,
        iterations=spec.iterations,
        warmup=spec.warmup,
        timeout_ns=spec.timeout_ns,
        interval_ns=spec.interval_ns,
        payload_bytes=spec.payload_bytes,
        anchor=anchor,
        send=transport.send,
        to_wire=transport.to_wire,
        from_wire=transport.from_wire,
        tx_stamps=transport.take_tx_stamps,
    )

    def notify(kind: str, detail: str) -> None:
        """A transport's news; an "error" (the platform dropped us) ends the run, keeping what was measured.

        Also logged at INFO (shown with ``--verbose``) the moment it happens, where the result has it only at
        the end: a test that stops the echo waits for this line to know the worker saw the silence.
        """
        log.info("%s: %s", kind, detail)
        writer.send(Event(kind, f"{spec.platform}: {detail}", fatal=kind == "error"))
        if kind == "error":
            stop.set()

    pacer: Pacer | None = None
    session_timer: asyncio.TimerHandle | None = None
    silence = Silence(spec.timeout_ns, notify)
    readings = RttReadings(transport)
    housekeeper = Housekeeper(
        session,
        writer,
        interval_ns=spec.interval_ns,
        flush_interval_ns=int(spec.flush_interval_s * 1e9),
        next_send_ns=lambda: pacer.next_due if pacer is not None else None,
        input_waiting=transport.input_waiting,
        events=events,
        watch=lambda now: silence.check(session.arrivals, session.sent, now),
        read_rtt=readings.read if readings.readable else None,
    )

    def receive(*message_and_stamps: object) -> None:
        session.on_receive(*message_and_stamps)
        housekeeper.after_arrival()

    partial = False
    cpu_at_start: float | None = None
    try:
        t0 = time.perf_counter_ns()
        if not await _connect(transport, spec, receive, notify, stop):
            partial = True  # stopped while joining: nothing measured; ``finally`` still says Done
            return
        writer.send(Event("connected", value=(time.perf_counter_ns() - t0) / 1e6))
        housekeeper.start()  # a full collection first: before the schedule's start is fixed
        cpu_at_start = time.process_time()
        start = phased_start(time.perf_counter_ns() + START_DELAY_NS, spec.interval_ns, spec.phase_ns)
        session.prepare(start)
        # A kernel-stamped t4 does not wait for this process to wake: polling for it would only burn CPU
        # (on udp --busy-poll-us makes the echo poll instead, see transports/echo_poll.py).
        stamps_t4 = transport.kernel_stamps
        poller = ReplyPoller(lambda: session.arrivals, 0 if stamps_t4 else spec.busy_poll_ns)

        def send(k: int, due: int) -> None:
            session.send(k, due)
            poller.after_send()

        pacer = Pacer(start, spec.interval_ns, session.total, send)
        session_timer = session_end(spec.credentials, start + session.total * spec.interval_ns + spec.timeout_ns, notify)
        pacer.start()
        partial = not await _until_resolved(session, housekeeper, pacer, stop)
    except TimeoutError:
        writer.send(
            Event(
                "error",
                f"{spec.platform}: no connection within {spec.connect_timeout_s:g} s"
                f" (waiting for {transport.waiting_for})",
                fatal=True,
            )
        )
        partial = True
    except TransportError as exc:
        writer.send(Event("error", f"{spec.platform}: {exc}", fatal=True))
        partial = True
    except Exception as exc:  # the parent must hear about anything, then keep what we measured
        log.debug("worker failed", exc_info=True)
        writer.send(Event("error", f"{spec.platform}: {type(exc).__name__}: {exc}", fatal=True))
        partial = True
    finally:
        if session_timer is not None:
            session_timer.cancel()
        if pacer is not None:
            pacer.stop()
        await housekeeper.stop()
        housekeeper.ship(match_all=True)
        cpu = time.process_time()
        measuring_cpu = cpu - cpu_at_start if cpu_at_start is not None else 0.0
        lost_up, lost_down = session.lost_directions()
        rtt_frame = readings.frame()
        if rtt_frame is not None:
            writer.send(rtt_frame)
        writer.send(
            Done(
                session.sent,
                dict(session.counters),
                partial,
                session.legacy_agent,
                cpu,
                measuring_cpu,
                peak_rss_kb(),
                late_seqs=session.late_seqs,
                duplicate_seqs=session.duplicate_seqs,
                lost_upstream=lost_up,
                lost_downstream=lost_down,
            )
        )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(transport.close(), 5.0)
        await writer.drain_and_close()


def peak_rss_kb() -> int:
    """This process's peak RSS since exec (VmHWM). getrusage's ru_maxrss would also count the parent's
    memory that the fork before exec shared, which is not ours."""
    try:
        with open("/proc/self/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


async def _connect(
    transport: ClientTransport, spec: WorkerSpec, receive: Receiver, notify: Notify, stop: asyncio.Event
) -> bool:
    """Join within the connect timeout; False when a stop request (Ctrl-C, a transport error) came first."""
    joining = asyncio.ensure_future(
        asyncio.wait_for(transport.connect(spec.credentials, receive, notify), spec.connect_timeout_s)
    )
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([joining, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not joining.done():
        joining.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await joining
        return False
    joining.result()  # raises the join's error, if any
    return True


async def _until_resolved(session: Session, housekeeper: Housekeeper, pacer: Pacer, stop: asyncio.Event) -> bool:
    """Wait for the schedule to finish and every ping to be answered or timed out.

    Returns False when stopped early (SIGTERM from the parent, or a transport's error).
    """
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([pacer.done, stopped], return_when=asyncio.FIRST_COMPLETED)
        while not stop.is_set():
            housekeeper.run()  # matches what came, in a quiet window
            if session.all_resolved:
                break
            remaining = session.last_t1 + session.timeout_ns + LOSS_GRACE_NS - time.perf_counter_ns()
            if remaining <= 0:
                session.expire(time.perf_counter_ns())
                break
            await asyncio.wait([stopped], timeout=min(remaining / 1e9, 0.01) + 0.001)
        return not stop.is_set()
    finally:
        stopped.cancel()
