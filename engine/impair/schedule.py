"""When (and how many times) each datagram of one direction leaves: the seeded part of the proxy.

Every arriving datagram draws the same four numbers in the same order (loss,
duplication, reordering, delay), so the n-th datagram of a direction gets the
same fate for the same spec and seed whatever the timing. A datagram picked
for reordering is held until the next datagram of its direction is scheduled
and then leaves just after it (a swap), or after ``REORDER_MAX_HOLD_NS`` when
none follows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from engine.impair.spec import DirectionSpec

NS_PER_MS = 1_000_000
#: A held datagram leaves this long after its own release instant when no datagram follows it.
REORDER_MAX_HOLD_NS = 100 * NS_PER_MS
#: How far behind its successor a swapped datagram leaves.
SWAP_GAP_NS = 1_000


@dataclass
class Planned:
    """One datagram's copies: ``release_ns`` is when they leave (both copies of a duplicate leave together)."""

    index: int
    arrival_ns: int
    delay_ns: int
    copies: int  # 0 = dropped, 1, or 2 = duplicated
    release_ns: int
    item: Any = None  # what the caller relays
    held: bool = False


class DirectionSchedule:
    def __init__(self, spec: DirectionSpec, seed: int, direction: str) -> None:
        self._spec = spec
        self._rng = random.Random(f"{seed}:{direction}")
        self._trace_next = 0
        self._held: Planned | None = None
        self.count = 0

    def _delay_ns(self) -> int:
        d, rng = self._spec.delay, self._rng
        draw = rng.random()
        if d.kind == "uniform":
            ms = d.a + (d.b - d.a) * draw
        elif d.kind == "normal":
            ms = max(0.0, rng.gauss(d.a, d.b))
        elif d.kind == "trace":
            ms = d.trace_ms[self._trace_next % len(d.trace_ms)]
            self._trace_next += 1
        else:
            ms = d.a
        return round(ms * NS_PER_MS)

    def admit(self, arrival_ns: int, item: Any = None) -> list[Planned]:
        """Plan the next datagram; returns what must be (re)scheduled: it first, then a held one it releases."""
        rng, spec = self._rng, self._spec
        lose, dup, reorder = rng.random(), rng.random(), rng.random()
        delay = self._delay_ns()
        p = Planned(self.count, arrival_ns, delay, 0, arrival_ns + delay, item)
        self.count += 1
        if lose < spec.loss:
            return [p]
        p.copies = 2 if dup < spec.dup else 1
        out = [p]
        held, self._held = self._held, None
        if held is not None:  # it leaves right after this one
            held.release_ns = max(held.release_ns, p.release_ns) + SWAP_GAP_NS
            held.held = False
            out.append(held)
        elif reorder < spec.reorder:
            p.held = True
            self._held = p
        return out

    def hold_deadline(self, p: Planned) -> int:
        """When a held datagram leaves if no successor comes to release it."""
        return p.release_ns + REORDER_MAX_HOLD_NS

    def give_up_hold(self, p: Planned) -> None:
        """The hold expired: it leaves now, unswapped."""
        if self._held is p:
            self._held = None
        p.held = False
