"""A UDP echo in its own process that answers each ping exactly ``--rtt-us`` after it arrived.

The agent's own ``Echo`` builds the pongs; only the hold time is scripted, so a
test knows when every pong is due. ``python -m tests.scripted_echo --rtt-us N``
prints the port it listens on (127.0.0.1) and serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import select
import socket
import time

from agent.echo import Echo

SPIN_S = 0.001


def serve(rtt_ns: int, busy: bool = False) -> None:
    """``busy``: poll without sleeping, so no wake-up latency of the echo's own lands in the RTTs."""
    # Real-time priority where allowed (root): on a machine busy with other work, pongs still leave on time.
    with contextlib.suppress(PermissionError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    echo = Echo()
    held: collections.deque[tuple[int, bytes, object]] = collections.deque()  # release order = arrival order
    while True:
        # Sleep until 1 ms before the next release, then poll: a wake-up from sleep can come late.
        timeout = max(0.0, (held[0][0] - time.perf_counter_ns()) / 1e9 - SPIN_S) if held else None
        if busy:
            timeout = 0.0
        if select.select([sock], [], [], timeout)[0]:
            data, addr = sock.recvfrom(65536)
            arrived = time.perf_counter_ns()
            reply = echo(data, time.time_ns())
            if reply is not None:
                held.append((arrived + rtt_ns, reply, addr))
        while held and held[0][0] <= time.perf_counter_ns():
            _, reply, addr = held.popleft()
            sock.sendto(reply, addr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rtt-us", type=int, default=0)
    parser.add_argument("--busy", action="store_true", help="poll without sleeping (bounded: the test kills it)")
    args = parser.parse_args()
    serve(args.rtt_us * 1000, args.busy)
