"""Synthetic ``Samples`` frames: what a worker ships, without a network, for the parent-side rows.

Values have the magnitudes of a loopback run (RTT 50-150 µs, 1 ms apart,
epoch-ns agent stamps), so msgpack encodes them at their real sizes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ipc.frames import Samples

WALL0_NS = 1_790_000_000_000_000_000


def samples(n: int, batch: int, first_seq: int = 1, seed: int = 1) -> Iterator[Samples]:
    """``Samples`` frames for seqs first_seq..first_seq+n-1, ``batch`` samples each (the last may be short)."""
    rng = np.random.default_rng(seed)
    for start in range(first_seq, first_seq + n, batch):
        seq = np.arange(start, min(start + batch, first_seq + n), dtype=np.int64)
        due = seq * 1_000_000
        t1 = due + rng.integers(5_000, 40_000, len(seq))
        t2 = WALL0_NS + t1 + rng.integers(20_000, 30_000, len(seq))
        t3 = t2 + 3_000
        t4 = t1 + rng.integers(50_000, 150_000, len(seq))
        yield Samples(*(c.tolist() for c in (seq, due, t1, t4, t2, t3, t3 - t2)))
