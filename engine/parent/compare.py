"""Side-by-side comparison of platforms measured in one run.

Medians are compared with a bootstrap confidence interval of their
difference, which makes no normality assumption and copes with unequal
sample counts (the flaw pyperf notes in the t-test).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from engine.parent.result_model import Statistics

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def median_difference_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """median(a) - median(b) and its bootstrap percentile interval, in the arrays' unit."""
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, (BOOTSTRAP_RESAMPLES, len(a))), axis=1)
    mb = np.median(rng.choice(b, (BOOTSTRAP_RESAMPLES, len(b))), axis=1)
    diffs = ma - mb
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(np.median(a) - np.median(b)), float(low), float(high)


def compare(rtts_ms: dict[str, np.ndarray], stats: dict[str, Statistics]) -> dict[str, Any]:
    """Ranking by median RTT and every pairwise median difference, with a plain verdict."""
    ranked = sorted((p for p in rtts_ms if len(rtts_ms[p])), key=lambda p: float(np.median(rtts_ms[p])))
    pairs = []
    for a, b in combinations(ranked, 2):
        diff, low, high = median_difference_ci(rtts_ms[a], rtts_ms[b])
        pairs.append(
            {
                "platforms": [a, b],
                "median_rtt_difference_ms": round(diff, 3),
                "ci95_ms": [round(low, 3), round(high, 3)],
                "significant": not (low <= 0.0 <= high),
                "verdict": f"{a} faster by {-diff:.3f} ms" if high < 0 else "not significant",
            }
        )
    return {
        "ranking_by_median_rtt": ranked,
        "median_rtt": {p: stats[p].median_rtt for p in stats},
        "p99_rtt": {p: stats[p].p99_rtt for p in stats},
        "packet_loss_rate": {p: stats[p].packet_loss_rate for p in stats},
        "pairs": pairs,
    }
