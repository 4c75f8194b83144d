"""``--hlog``: an HdrHistogram interval log per second and platform, read back with hdrh's own reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from engine.parent.hdr import new_histogram
from engine.parent.intervals import CLOSE_AFTER_S, IntervalHistograms


def read_log(path) -> tuple[float, dict[str, list[HdrHistogram]]]:
    reader = HistogramLogReader(str(path), new_histogram())
    by_tag: dict[str, list[HdrHistogram]] = {}
    while (hist := reader.get_next_interval_histogram()) is not None:
        by_tag.setdefault(hist.get_tag(), []).append(hist)
    return reader.get_start_time_sec(), by_tag


def test_the_log_holds_the_runs_counts_and_percentiles(cli, tmp_path):
    out, log = tmp_path / "r.json", tmp_path / "r.hlog"
    proc = cli(
        "--platform", "udp,webrtc", "--iterations", "300", "--cooldown", "10", "--output", str(out), "--hlog", str(log)
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    text = log.read_text()
    assert "#[StartTime: " in text and "\nTag=udp," in text and "\nTag=webrtc," in text

    start, by_tag = read_log(log)
    assert sorted(by_tag) == ["udp", "webrtc"]
    first_ping = min(r["measurements"][0]["timestamp"] for r in doc["results"].values())
    assert int(first_ping) - 1 <= start <= first_ping
    for platform, intervals in by_tag.items():
        stats = doc["results"][platform]["statistics"]
        total = new_histogram()
        for hist in intervals:
            total.add(hist)
            assert hist.get_end_time_stamp() - hist.get_start_time_stamp() == 1000  # one second each (ms)
        assert total.get_total_count() == stats["successful_messages"] == 300
        assert total.get_value_at_percentile(50) / 1e3 == pytest.approx(stats["p50_rtt"], abs=1e-3)
        assert total.get_value_at_percentile(99) / 1e3 == pytest.approx(stats["p99_rtt"], abs=1e-3)
        # 300 pings 10 ms apart: about 3 s of pongs, so 3 or 4 whole seconds, in order and none twice.
        starts = [h.get_start_time_stamp() for h in intervals]
        assert 3 <= len(intervals) <= 5 and starts == sorted(set(starts))
        # A second's pongs are those whose arrival (send time + RTT) falls in it.
        arrivals = np.array(
            [m["timestamp"] + m["round_trip_time"] / 1e3 for m in doc["results"][platform]["measurements"]]
        )
        for hist in intervals:
            lo = hist.get_start_time_stamp() / 1e3
            expected = int(((arrivals >= lo) & (arrivals < lo + 1)).sum())
            assert abs(hist.get_total_count() - expected) <= 1  # the file's stamps are rounded to the µs


def test_seconds_close_as_the_run_goes_on():
    intervals = IntervalHistograms(wall_minus_perf_ns=0)
    most_open = 0
    for second in range(20):
        t4 = second * 1_000_000_000 + np.arange(0, 1_000_000_000, 10_000_000)
        intervals.record(t4, np.full(len(t4), 2_000_000))
        most_open = max(most_open, len(intervals._open))
    assert most_open <= CLOSE_AFTER_S + 1  # only the last few seconds keep a histogram's counts
    done = intervals.finish()
    assert [i.second for i in done] == list(range(20)) and all(i.count == 100 for i in done)
    assert HdrHistogram.decode(done[5].encoded).get_value_at_percentile(50) == pytest.approx(2000, rel=1e-3)
