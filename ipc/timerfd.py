"""A timerfd: a one-shot or periodic timer at an absolute instant, readable by an event loop or epoll.

Shared by the worker's pacer, the udp echo's poller and the impairment relay: each needs
wake-ups within microseconds of an instant, which asyncio's millisecond timers cannot give.
"""

from __future__ import annotations

import ctypes
import os

# Hand-written for precision: libuv and asyncio timers round to whole milliseconds,
# a timerfd armed at an absolute CLOCK_MONOTONIC instant wakes within microseconds.
_libc = ctypes.CDLL(None, use_errno=True)
CLOCK_REALTIME = 0  # the clock of time.time_ns() and of kernel packet stamps
CLOCK_MONOTONIC = 1  # the clock behind time.perf_counter_ns() on Linux
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerFd:
    """A one-shot timer at an absolute instant of ``clock``, readable by an event loop or epoll."""

    def __init__(self, clock: int = CLOCK_MONOTONIC) -> None:
        self.fd = _libc.timerfd_create(clock, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _Itimerspec()

    def arm_at(self, deadline_ns: int, period_ns: int = 0) -> None:
        """Fire at ``deadline_ns``, then every ``period_ns`` after it when that is not 0 (the kernel
        keeps the grid: expiry k is exactly deadline + k * period, however late each read comes)."""
        value, interval = self._spec.it_value, self._spec.it_interval
        value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
        interval.tv_sec, interval.tv_nsec = divmod(max(period_ns, 0), 1_000_000_000)
        if _libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def clear(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)
