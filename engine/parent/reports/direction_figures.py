"""Each direction's figures for a group of runs (compare, report), merged exactly where they can be.

Loss by direction adds counts; mean |IPDV| jitter is a mean over consecutive pairs, so runs merge by
weighting each with its pairs; one-way percentiles come from the merged one-way histograms, and only
where every run's clocks split them (same-host, synced: ``p50_client_to_server`` present and not
withheld); a percentile of delay variation cannot be merged, so it is given for a single run only.
"""

from __future__ import annotations

from engine.parent.reports.files import Group

WAYS = ("upstream", "downstream")
#: One-way percentile metrics: (statistic, histogram kind, percentile).
ONE_WAY = {
    f"p{p}_{kind}": (kind, float(p)) for kind in ("client_to_server", "server_to_client") for p in (50, 99)
}


def lost(group: Group, way: str) -> int | None:
    """Lost pings of that direction; None when a run predates directions."""
    counts = [getattr(r.statistics, f"lost_{way}") for r in group.results]
    return None if any(c is None for c in counts) else sum(counts)


def jitter(group: Group, way: str) -> float | None:
    """Mean |IPDV| of that direction over every run's consecutive pairs (ms)."""
    pairs = total = 0.0
    for r in group.results:
        value, n = getattr(r.statistics, f"jitter_{way}"), r.statistics.successful_messages - 1
        if value is None or n < 1:
            return None
        pairs, total = pairs + n, total + value * n
    return total / pairs if pairs else None


def variation_p99(group: Group, way: str) -> float | None:
    """The OWD variation p99 of a single run (percentiles of runs do not merge)."""
    return getattr(group.results[0].statistics, f"owd_variation_{way}_p99") if len(group.results) == 1 else None


def one_way_ms(group: Group, metric: str) -> float | None:
    """A one-way percentile from the merged histograms, where every run's one-way values stand on its clocks."""
    if any(getattr(r.statistics, metric) is None for r in group.results):
        return None
    kind, percentile = ONE_WAY[metric]
    return group.percentile_ms(kind, percentile)
