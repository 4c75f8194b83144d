"""Clock anchors and the boot id: what the worker and the agent need of clocks, without numpy.

Stamps t1/t4 are ``perf_counter_ns`` (monotonic, immune to wall-clock steps);
the agent's t2/t3 are wall time. To compare them the parent converts the
worker's monotonic stamps to wall time through one anchor pair read at worker
start: wall(t) = anchor.wall_ns + (t − anchor.perf_ns).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class Anchor(NamedTuple):
    wall_ns: int
    perf_ns: int
    uncertainty_ns: int


def take_anchor(reads: int = 32) -> Anchor:
    """Best of several back-to-back (perf, wall, perf) reads: the narrowest bracket wins."""
    best: Anchor | None = None
    for _ in range(reads):
        p0 = time.perf_counter_ns()
        wall = time.time_ns()
        p1 = time.perf_counter_ns()
        width = p1 - p0
        if best is None or width < best.uncertainty_ns:
            best = Anchor(wall, (p0 + p1) // 2, width)
    assert best is not None
    return best


def boot_id() -> str:
    """This kernel's boot id; two processes with the same one share CLOCK_REALTIME."""
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""
