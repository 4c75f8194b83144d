"""HDR histograms that travel with results: encoded, decoded, merged, read.

Each result stores its latency histograms (µs, 1 µs–60 s, 3 significant
digits) in HdrHistogram's standard compressed encoding (base64 text, what
``HdrHistogram.encode()`` writes and every HdrHistogram port reads). Runs are
combined by adding their histograms, so a merged percentile is exact to the
histogram's precision, never an average of percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numpy as np
from hdrh.histogram import HdrHistogram

from engine.parent.analysis.hdr import new_histogram, record_ns

#: The histograms a result carries, in the file's order; one-way ones only where the agent stamped its instants.
KINDS = ("rtt", "network_rtt", "client_to_server", "server_to_client", "send_lag")


class Histograms(msgspec.Struct):
    """``histograms``: unit, then one encoded histogram per kind (None when the run had no such values)."""

    unit: str = "us"
    rtt: str | None = None
    network_rtt: str | None = None
    client_to_server: str | None = None
    server_to_client: str | None = None
    send_lag: str | None = None

    def decoded(self, kind: str) -> HdrHistogram | None:
        text = getattr(self, kind)
        return None if text is None else HdrHistogram.decode(text.encode("ascii"))


def encode(hist: HdrHistogram) -> str | None:
    """The standard compressed encoding as text; None for an empty histogram (nothing to merge)."""
    return hist.encode().decode("ascii") if hist.get_total_count() else None


def from_ns(values_ns: np.ndarray) -> HdrHistogram:
    """A fresh histogram of durations in ns (recorded in µs); values out of its range are left out."""
    hist = new_histogram()
    record_ns(hist, np.asarray(values_ns, dtype=np.int64))
    return hist


def merged(hists: Iterable[HdrHistogram | None]) -> HdrHistogram:
    """The sum of several histograms (None ones skipped): the histogram of all their values together."""
    total = new_histogram()
    for hist in hists:
        if hist is not None:
            total.add(hist)
    return total


def merged_kind(all_histograms: Iterable[Histograms | None], kind: str) -> HdrHistogram:
    """One kind's histogram over several results."""
    return merged(h.decoded(kind) for h in all_histograms if h is not None)


def line_fields(histograms: Histograms) -> dict[str, str]:
    """The encodings as ``run_summary`` string fields (``hdr_rtt``, ...), empty ones left out."""
    return {f"hdr_{kind}": getattr(histograms, kind) for kind in KINDS if getattr(histograms, kind) is not None}
