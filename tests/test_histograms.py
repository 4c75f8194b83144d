"""Histograms travel with results: encoded in the file and the run summary, merged by adding, never by averaging."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from engine.parent.results import histograms
from engine.parent.results.model import dumps, load
from engine.parent.sinks import SeriesInfo, lineproto
from testbed.synthetic_results import result_of


def test_two_results_merged_through_their_histograms_equal_one_run_over_all_samples():
    rng = np.random.default_rng(7)
    fast = (rng.lognormal(np.log(2e6), 0.3, 20_000)).astype(np.int64)  # ~2 ms, another location
    slow = (rng.lognormal(np.log(9e6), 0.6, 5_000)).astype(np.int64)  # ~9 ms with a long tail
    a, b, both = result_of(fast), result_of(slow), result_of(np.concatenate([fast, slow]))

    merged = histograms.merged_kind([a.histograms, b.histograms], "rtt")
    single = both.histograms.decoded("rtt")
    assert merged.get_total_count() == 25_000
    everything = np.concatenate([fast, slow]) / 1e3  # µs
    for p in (50, 90, 95, 99, 99.9):
        assert merged.get_value_at_percentile(p) == single.get_value_at_percentile(p)
        assert merged.get_value_at_percentile(p) == pytest.approx(np.percentile(everything, p), rel=2e-3)
    # An average of the two runs' p99s is far from the merged p99: the point of carrying histograms.
    averaged = (a.statistics.p99_rtt + b.statistics.p99_rtt) / 2
    assert abs(averaged - merged.get_value_at_percentile(99) / 1e3) > 1.0


def test_every_kind_is_in_the_file_one_way_included_and_loads_back():
    rng = np.random.default_rng(1)
    rtt = rng.integers(1_000_000, 3_000_000, 2_000)
    r = result_of(rtt)
    h = r.histograms
    assert h.unit == "us" and all(getattr(h, k).startswith("HIST") for k in histograms.KINDS)
    c2s = h.decoded("client_to_server")
    assert c2s.get_total_count() == 2_000
    # Symmetric paths: each one-way value is half the network RTT.
    assert c2s.get_value_at_percentile(50) == pytest.approx(np.percentile((rtt - 20_000) / 2e3, 50), rel=2e-3)
    assert h.decoded("network_rtt").get_value_at_percentile(99) == pytest.approx(
        np.percentile((rtt - 20_000) / 1e3, 99), rel=2e-3
    )


def test_run_summary_carries_the_same_encoding_as_the_file():
    r = result_of(np.full(100, 1_500_000))
    fields = histograms.line_fields(r.histograms)
    line = lineproto.summary_line(SeriesInfo("udp", "lab", "r1", 0, False), fields, 1)
    encoded = line.split(b'hdr_rtt="')[1].split(b'"')[0]
    assert encoded.decode() == r.histograms.rtt
    assert HdrHistogram.decode(encoded).get_value_at_percentile(50) == pytest.approx(1500, rel=1e-3)


def test_files_without_histograms_still_load():
    text = dumps(result_of(np.full(10, 1_000_000)))
    older = json.loads(text)
    del older["histograms"]
    assert load(json.dumps(older).encode()).histograms is None
