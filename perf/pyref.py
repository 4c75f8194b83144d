"""A third row for the ratio story: the smallest Python UDP ping-pong we can write.

Same shape as sockperf (closed loop, one echo process, same message size both
ways) but on an event loop in Python, the way the engine's worker and agent
run (uvloop). It shows how much of engine-vs-sockperf is "Python on an event
loop that sleeps between pings" and how much is the engine itself.

Run as ``python -m perf.pyref echo`` for the echo side (prints its port).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from array import array
from typing import Any

import numpy as np

from perf import PerfError
from perf.sockperf import stop

REPLY_TIMEOUT_S = 1.0


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


async def _serve_echo(host: str) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(host, 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    transport.close()


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[tuple[bytes, int]] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t4 = time.perf_counter_ns()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((data, t4))


async def _ping_pong(host: str, port: int, size: int, count: int, warmup: int, interval_ns: int) -> tuple[array, int]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=(host, port))
    rtts = array("q")
    lost = 0
    pad = b"x" * max(0, size - 8)
    start = time.perf_counter_ns() + 20_000_000
    try:
        for k in range(warmup + count):
            delay = start + k * interval_ns - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            payload = k.to_bytes(8, "big") + pad
            client.waiter = loop.create_future()
            t1 = time.perf_counter_ns()
            transport.sendto(payload)
            try:
                while True:
                    data, t4 = await asyncio.wait_for(client.waiter, REPLY_TIMEOUT_S)
                    if data[:8] == payload[:8]:
                        break
                    client.waiter = loop.create_future()  # a stale reply: keep waiting for ours
            except TimeoutError:
                lost += k >= warmup
                continue
            if k >= warmup:
                rtts.append(t4 - t1)
    finally:
        transport.close()
    return rtts, lost


def run(
    size: int, mps: int, count: int, warmup: int, host: str = "127.0.0.1", echo_cpus: set[int] | None = None
) -> dict[str, Any]:
    """Start the echo in its own process (on ``echo_cpus`` if given), ping it from this one; RTT stats in µs."""
    import uvloop

    echo = subprocess.Popen([sys.executable, "-m", "perf.pyref", "echo", host], stdout=subprocess.PIPE, text=True)
    try:
        if echo_cpus:
            os.sched_setaffinity(echo.pid, echo_cpus)
        line = echo.stdout.readline().strip()
        if not line.isdigit():
            raise PerfError(f"python echo failed to start (printed {line!r})")
        rtts, lost = uvloop.run(_ping_pong(host, int(line), size, count, warmup, round(1e9 / mps)))
    finally:
        stop(echo)
    if not rtts:
        raise PerfError("python ping-pong received no replies")
    us = np.frombuffer(rtts, dtype=np.int64) / 1e3
    return {
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "mean_us": float(us.mean()),
        "min_us": float(us.min()),
        "max_us": float(us.max()),
        "samples": len(us),
        "lost": lost,
    }


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "echo":
        import uvloop

        uvloop.run(_serve_echo(sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"))
    else:
        sys.exit("usage: python -m perf.pyref echo [HOST]")
