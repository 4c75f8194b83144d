"""Which pings an echo received in one session, as sorted inclusive ranges of seq: the agent keeps it, the
runner reads it back from /disconnect to tell a ping lost on the way out from a pong lost on the way back.

Ranges, not a bitmap: a hostile runner's seqs up to 2**63 cost one range each, and an in-order run is one
range extended in place (a comparison and an add on the echo's path, before its t3 stamp). Past
``MAX_RANGES`` the set stops growing and says it is incomplete, so an agent's memory stays bounded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

#: Ranges a session may hold: 20,000 keep /disconnect's reply under the runner's 1 MiB cap even with
#: 19-digit seqs (2 % scattered loss over a million pings; bursts of loss cost one range each).
MAX_RANGES = 20_000


class ReceivedSeqs:
    """Distinct seqs seen; ``count`` is how many (a duplicate counts once)."""

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        self.count = 0
        self.complete = True

    def add(self, seq: int) -> int:
        """Record ``seq``; returns ``count`` after it."""
        hi = self._hi
        if hi and seq == hi[-1] + 1:  # the usual case: the next ping in order
            hi[-1] = seq
            self.count += 1
            return self.count
        lo = self._lo
        i = bisect_right(lo, seq) - 1  # the range starting at or before seq
        if i >= 0 and seq <= hi[i]:
            return self.count  # seen already
        joins_left = i >= 0 and hi[i] == seq - 1
        joins_right = i + 1 < len(lo) and lo[i + 1] == seq + 1
        if not (joins_left or joins_right) and len(lo) >= MAX_RANGES:
            self.complete = False
            return self.count
        self.count += 1
        if joins_left and joins_right:
            hi[i] = hi[i + 1]
            del lo[i + 1], hi[i + 1]
        elif joins_left:
            hi[i] = seq
        elif joins_right:
            lo[i + 1] = seq
        else:
            lo.insert(i + 1, seq)
            hi.insert(i + 1, seq)
        return self.count

    def ranges(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in zip(self._lo, self._hi, strict=True)]


def contains(ranges: list[tuple[int, int]] | list[list[int]], seqs: Iterable[int]) -> list[bool]:
    """For each seq, whether one of the sorted, disjoint inclusive ``ranges`` holds it."""
    starts = [r[0] for r in ranges]
    out = []
    for seq in seqs:
        i = bisect_right(starts, seq) - 1
        out.append(i >= 0 and seq <= ranges[i][1])
    return out
