"""``--hlog``: an HdrHistogram interval log per second and platform, read back with hdrh's own reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from engine.parent.analysis.hdr import new_histogram
from engine.parent.analysis.intervals import per_second


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


def test_each_pong_counts_in_the_second_it_arrived_in():
    # Arrivals 0.5 s apart from second 100 on, one straggler from second 100 listed last; RTTs 1, 2, 3 ... ms.
    t4 = np.array([100.2, 100.7, 101.2, 101.7, 102.2, 100.9]) * 1e9
    rtt = np.arange(1, 7) * 1_000_000
    intervals = per_second(t4.astype(np.int64), rtt)
    # The max is HdrHistogram's: the top of the largest value's bucket (3 significant digits).
    assert [(i.second, i.count, i.max_us) for i in intervals] == [(100, 3, 6003), (101, 2, 4001), (102, 1, 5003)]
    first = HdrHistogram.decode(intervals[0].encoded)
    assert [first.get_count_at_value(v) for v in (1000, 2000, 6000)] == [1, 1, 1]
    assert per_second(np.zeros(0, np.int64), np.zeros(0, np.int64)) == []
