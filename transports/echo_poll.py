"""Keeping the udp echo awake while a ping is due, when the runner asks for it (``--busy-poll-us``).

A sleeping echo pays its host's wake-up inside every RTT: the kernel stamps
the ping's arrival (t2), then the process must be scheduled before it can
answer (about 45 µs on a small VM, the largest part of the echo's answer
time). Like the runner's ``ReplyPoller``, this keeps the agent's loop polling
instead, for a bounded time around the instant the next ping is expected:
the last arrival plus the median of the recent gaps (the runner's schedule,
learned). Polling starts ``LEAD_NS`` before that instant, so the wake-up
happens off the measured path, and stops when a datagram is waiting or
``limit_ns`` after it began. The price is CPU time on the agent's host ≈
(lead + the ping's lateness) × ping rate, which is why it is asked for,
never on by default.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable

#: How long before the expected arrival polling starts: a timerfd wakes within tens of µs on a
#: quiet host, and a ping that comes early is caught by the loop's reader as it would be anyway.
LEAD_NS = 200_000
#: Gaps between arrivals remembered; their median is the schedule's interval.
RECENT_GAPS = 8


class EchoPoller:
    """Call ``arrived()`` on each datagram read and ``rearm()`` after each batch; ``close()`` at the end.

    ``pending()`` says a datagram is waiting; ``readable()`` is the echo's reader, run when one is.
    """

    def __init__(self, limit_ns: int, pending: Callable[[], bool], readable: Callable[[], None]) -> None:
        from ipc.timerfd import TimerFd  # (here: an agent that never polls never loads it)

        self._limit = limit_ns
        self._pending = pending
        self._readable = readable
        self._loop = asyncio.get_running_loop()
        self._timer = TimerFd()
        self._loop.add_reader(self._timer.fd, self._start)
        self._gaps = array("q")
        self._last = 0
        self._deadline = 0
        self._polling = False
        self.polled = 0  # batches read by the poll rather than by the loop's reader

    def arrived(self, now_ns: int) -> None:
        if self._last:
            gaps = self._gaps
            if len(gaps) == RECENT_GAPS:
                gaps.pop(0)
            gaps.append(now_ns - self._last)
        self._last = now_ns

    def rearm(self) -> None:
        """Poll next from ``LEAD_NS`` before the next ping is expected, once the schedule is known."""
        if len(self._gaps) >= RECENT_GAPS // 2:
            interval = sorted(self._gaps)[len(self._gaps) // 2]
            self._timer.arm_at(self._last + interval - LEAD_NS)

    def _start(self) -> None:
        self._timer.clear()
        self._deadline = time.perf_counter_ns() + self._limit
        if not self._polling:
            self._polling = True
            self._loop.call_soon(self._poll)

    def _poll(self) -> None:
        """One look per loop round (a chain of call_soon callbacks keeps the loop from sleeping)."""
        if not self._polling:  # closed meanwhile
            return
        if self._pending():
            self._polling = False
            self.polled += 1
            self._readable()
        elif time.perf_counter_ns() > self._deadline:
            self._polling = False
        else:
            self._loop.call_soon(self._poll)

    def close(self) -> None:
        self._polling = False
        self._deadline = 0
        self._loop.remove_reader(self._timer.fd)
        self._timer.close()
