"""Where and when each concurrent worker runs: its phase in the shared send grid and, with --pin, its core.

Side by side, two workers sending in the same instant contend for the CPU,
the loopback or the NIC, and each one's RTT then includes the other's send.
Offsetting their grids by interval ÷ platforms keeps their sends apart;
pinning keeps their event loops off each other's core.
"""

from __future__ import annotations

import os


def phases(count: int, interval_ns: int) -> list[int]:
    """Worker i sends at instants ≡ i · interval / count (mod interval)."""
    return [i * interval_ns // count for i in range(count)]


def cores(count: int, pin: bool) -> tuple[list[int | None], str | None]:
    """A core each (the lowest one left to the runner and the agents), or none and why when there are too few."""
    if not pin:
        return [None] * count, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < count + 1:
        return [None] * count, (
            f"--pin: {len(available)} core(s) for {count} worker(s) and the runner; workers were not pinned"
        )
    return list(available[-count:]), None
