"""The pacer's schedule: every ping at start + k * interval on one periodic timer, none skipped when late."""

from __future__ import annotations

import asyncio
import time

import uvloop

from engine.worker import pacer as pacer_module
from engine.worker.pacer import Pacer

MS = 1_000_000
TICK_OVER = "tick over"


def run_schedule(count: int, interval_ns: int, block_at: int | None = None) -> tuple[list, list, int, int]:
    """Run a Pacer to its end; returns (k, due) fired, perf stamps at each fire, timer arms, start.
    After ping ``block_at + 1`` fires, a loop callback appends ``TICK_OVER`` to ``fired``: it runs once
    the pacer's callback in progress returns, so what fired before it left in the same tick."""
    fired: list = []
    stamps: list[int] = []
    arms: list[tuple[int, int]] = []
    real_arm = pacer_module.TimerFd.arm_at

    def arm_at(self, deadline_ns: int, period_ns: int = 0) -> None:
        arms.append((deadline_ns, period_ns))
        real_arm(self, deadline_ns, period_ns)

    async def main() -> int:
        start = time.perf_counter_ns() + 5 * MS

        def fire(k: int, due: int) -> None:
            stamps.append(time.perf_counter_ns())
            fired.append((k, due))
            if block_at is not None and k == block_at + 1:
                asyncio.get_running_loop().call_soon(fired.append, TICK_OVER)
            if k == block_at:
                time.sleep(interval_ns * 3.5 / 1e9)  # the loop stalls over the next three due instants

        p = Pacer(start, interval_ns, count, fire)
        p.start()
        await p.done
        return start

    pacer_module.TimerFd.arm_at = arm_at
    try:
        start = uvloop.run(main())
    finally:
        pacer_module.TimerFd.arm_at = real_arm
    return fired, stamps, len(arms), start


def test_every_ping_fires_once_on_the_grid_from_one_arming() -> None:
    fired, stamps, arms, start = run_schedule(20, 2 * MS)
    assert fired == [(k, start + k * 2 * MS) for k in range(20)]
    assert all(stamp >= due for stamp, (_, due) in zip(stamps, fired, strict=True))  # never early
    assert arms == 1  # one periodic timer: no system call between two sends to re-arm it


def test_a_stalled_loop_sends_the_overdue_pings_at_once_with_their_own_due_instants() -> None:
    fired, stamps, _, start = run_schedule(10, 2 * MS, block_at=3)
    assert fired.index(TICK_OVER) >= 7  # pings 4, 5 and 6 came due during the stall: one tick sent them all
    fired.remove(TICK_OVER)
    assert [k for k, _ in fired] == list(range(10))  # none skipped (no coordinated omission)
    assert all(due == start + k * 2 * MS for k, due in fired)
    stall_end = stamps[3] + 7 * MS
    assert all(stamps[k] >= stall_end for k in (4, 5, 6))  # late, and sent as such


def test_a_single_ping_and_an_empty_schedule_end() -> None:
    fired, _, arms, start = run_schedule(1, 2 * MS)
    assert fired == [(0, start)] and arms == 1
    fired, _, arms, _ = run_schedule(0, 2 * MS)
    assert fired == [] and arms == 0
