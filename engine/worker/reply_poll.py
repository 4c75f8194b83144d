"""Keeping the worker's loop awake between a ping and its pong, for a bounded time.

An idle event loop sleeps in epoll, and waking a sleeping process costs tens
of µs on a VM; that cost would land in every RTT measured on a fast path.
Polling (a chain of call_soon callbacks makes the loop poll with a zero
timeout) from each send until its pong is stamped, capped at ``limit_ns``,
removes it for the price of CPU time ≈ RTT × ping rate — as sockperf's
busy-waiting client does. Off by default (``--busy-poll-us``): when the echo
shares this CPU (a same-host agent, unpinned, on a small machine) polling
delays the very pong it waits for; each poll yields the CPU, which softens
that but does not undo it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable


class ReplyPoller:
    """Call ``after_send()`` after each ping; polls until ``arrivals()`` moves or the limit passes."""

    def __init__(self, arrivals: Callable[[], int], limit_ns: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._arrivals = arrivals
        self._limit = limit_ns
        self._deadline = 0
        self._seen = 0
        self._polling = False

    def after_send(self) -> None:
        if self._limit <= 0:
            return
        self._seen = self._arrivals()
        self._deadline = time.perf_counter_ns() + self._limit
        if not self._polling:
            self._polling = True
            self._loop.call_soon(self._poll)

    def _poll(self) -> None:
        if self._arrivals() != self._seen or time.perf_counter_ns() > self._deadline:
            self._polling = False
            return
        os.sched_yield()  # a same-host echo sharing this CPU must still get to run
        self._loop.call_soon(self._poll)
