"""What a worker watches besides the pongs themselves: an echo gone silent, the agent's session running out.

Daily and LiveKit say when the echo participant leaves; a UDP socket or a
WebRTC channel whose far end stopped says nothing, and the pings would only
show up as loss. Both checks run from the worker's periodic pump or a timer,
never on the path between t1 and t4: they read counters, nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from transports.base import Notify


class Silence:
    """Warns once when no answer came for longer than the timeout while pings went out, after some had come."""

    def __init__(self, timeout_ns: int, notify: Notify) -> None:
        self._timeout_ns = timeout_ns
        self._notify = notify
        self._arrivals = 0
        self._last_arrival_ns = 0
        self._sent_then = 0
        self._warned = False

    def check(self, arrivals: int, sent: int, now_ns: int) -> None:
        if arrivals != self._arrivals:
            self._arrivals, self._last_arrival_ns, self._sent_then = arrivals, now_ns, sent
            return
        silent_ns = now_ns - self._last_arrival_ns
        if self._warned or not arrivals or sent == self._sent_then or silent_ns <= self._timeout_ns:
            return
        self._warned = True
        self._notify(
            "warning",
            f"no answer from the echo for {silent_ns / 1e9:.1f} s after {arrivals} had come"
            " (echo stopped or path broken?); the pings since are counted lost",
        )


def session_end(
    credentials: Mapping[str, Any], schedule_end_ns: int, notify: Notify
) -> asyncio.TimerHandle | None:
    """When the agent's session ends before the schedule does, say so now, and at that instant stop the run
    with an error: pings after it would be lost for a reason of our own.

    The end is ``session_ends_at`` (this host's clock, from the granted duration), else the agent's
    ``expires_at`` (Unix seconds on its clock: agents that grant no duration). ``schedule_end_ns`` is on
    ``time.perf_counter_ns``'s clock. Returns the timer (cancel it when done).
    """
    expires_at = credentials.get("session_ends_at", credentials.get("expires_at"))
    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
        return None
    left_s = expires_at - time.time()
    schedule_left_s = (schedule_end_ns - time.perf_counter_ns()) / 1e9
    if left_s >= schedule_left_s:
        return None
    notify(
        "warning",
        f"the agent's session ends {schedule_left_s - left_s:.0f} s before this run's schedule does"
        " (the agent caps session length); the run will stop there",
    )
    return asyncio.get_running_loop().call_later(
        max(left_s, 0.0),
        notify,
        "error",
        "the agent's session expired under the run; stopped with what was measured",
    )
