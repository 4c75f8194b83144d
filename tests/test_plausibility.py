"""Agent stamps that cannot be true never become one-way or processing values; percentiles stay within the samples."""

from __future__ import annotations

import json

import pytest

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.results.builder import platform_result
from engine.parent.results.model import dumps
from engine.parent.settings import PlatformContext
from engine.parent.sinks import lineproto
from engine.parent.sinks.lineproto import RunningOffset
from ipc.frames import Done, Hello, Samples
from tests.test_results import MS, SETTINGS, THETA, WALL0, result, run_with
from tests.test_sink_parts import HELLO, INFO, frame

PROCESSING = MS // 10


def run_of(forged: dict[int, tuple[int, int]]) -> PlatformRun:
    """Ten pongs, 2 ms each way, the agent 3 ms ahead; ``forged`` replaces (t2, processing) of some, by index."""
    cols: dict[str, list[int]] = {k: [] for k in ("seq", "due", "t1", "t4", "t2", "t3", "processing_ns")}
    for i in range(10):
        t1 = (i + 1) * 10 * MS
        t2, processing = forged.get(i, (WALL0 + t1 + 2 * MS + THETA, PROCESSING))
        t4 = t1 + 4 * MS + PROCESSING + i * 1000
        for key, value in zip(cols, (i + 3, t1, t1, t4, t2, t2 + processing, processing)):
            cols[key].append(value)
    run = PlatformRun("udp")
    run.add(Hello("udp", 1, WALL0, 0, 50))
    run.add(Samples(**cols))
    run.add(Done(sent=12, counters={}))
    return run


def test_impossible_agent_stamps_leave_the_rtt_and_nothing_else(tmp_path):
    true_t2 = WALL0 + 60 * MS + 2 * MS + THETA  # what index 5's agent stamp would be
    forged = {
        1: (WALL0 + 20 * MS + 2 * MS + THETA, -5000 * MS),  # processing below zero (the issue's -4999.98 ms)
        3: (WALL0 + 40 * MS + 2 * MS + THETA, 6 * MS),  # processing longer than the 4.1 ms round trip
        5: (true_t2 // 1_000_000, PROCESSING),  # t2 in ms, not ns: 1970 on the agent's clock
        7: (true_t2 + 10_000 * MS, PROCESSING),  # 10 s after the run ended
    }
    for mode in ClockMode:
        r = result(run_of(forged), mode)
        s, m = r.statistics, r.metadata
        assert s.implausible_agent_stamps == 4
        assert s.successful_messages == 10 and len(r.measurements) == 10  # every RTT still counts
        assert s.mean_rtt == pytest.approx(4.1 + 0.0045, abs=0.001)
        for i, row in enumerate(r.measurements):
            agent_side = [row[k] for k in ("client_to_server", "server_to_client", "server_processing", "network_rtt")]
            assert (agent_side == [None] * 4) is (i in forged)
            assert row["round_trip_time"] == pytest.approx(4.1 + i * 0.001)
        assert s.mean_server_processing == pytest.approx(0.1)
        assert s.mean_network_rtt == pytest.approx(4.0 + 0.0045, abs=0.001)
        assert s.p99_network_rtt <= s.mean_network_rtt + 0.01  # the forged ones never reach the histogram
        assert m.clock_offset_ms == pytest.approx(3.0, abs=0.01) and m.histogram_out_of_range == 0
        if mode is ClockMode.ESTIMATE:
            assert s.mean_client_to_server == pytest.approx(2.0, abs=0.01)
        assert any(w.startswith("4 pongs carried agent stamps that cannot be true") for w in m.warnings)
    (tmp_path / "r.json").write_text(dumps(r))
    rows = json.loads((tmp_path / "r.json").read_text())["measurements"]
    assert [row["server_processing"] is None for row in rows] == [i in forged for i in range(10)]


def test_plausible_stamps_are_all_kept():
    # Estimate mode: the agent is 3 ms ahead, which same-host or synced would (rightly) withhold one-way values for.
    r = result(run_of({}), ClockMode.ESTIMATE)
    assert r.statistics.implausible_agent_stamps == 0 and not r.metadata.one_way_withheld
    assert None not in [row["client_to_server"] for row in r.measurements]
    assert not [w for w in r.metadata.warnings if "cannot be true" in w]


def test_a_forged_stamp_never_wins_the_clock_filter():
    # Processing of 4.1 ms = the whole RTT would make a zero-delay exchange, the "best" one, and shift θ̂.
    forged = {4: (WALL0 + 50 * MS + THETA, 4 * MS + PROCESSING + 4 * 1000 + 1)}
    r = result(run_of(forged), ClockMode.ESTIMATE)
    assert r.statistics.implausible_agent_stamps == 1
    assert r.metadata.clock_offset_ms == pytest.approx(3.0, abs=0.01)
    assert r.metadata.clock_offset_uncertainty_ms == pytest.approx(2.0, abs=0.01)


def test_percentiles_never_pass_the_largest_or_smallest_sample():
    # 10.1 ms falls in an HDR bucket whose top edge is 10.103 ms: that edge was reported as p99.
    r = result(run_with([(2, 2), (2.5, 1.25), (7, 3)] * 3 + [(1, 1)]), ClockMode.SAME_HOST)
    s = r.statistics
    assert s.max_rtt == 10.1
    assert s.p95_rtt == s.p99_rtt == s.p99_9_rtt == 10.1
    assert s.min_rtt <= s.p50_rtt and s.p99_network_rtt <= s.mean_network_rtt * 10
    assert s.p99_network_rtt == 10.0


def test_all_stamps_implausible_leaves_one_way_unavailable():
    forged = {i: (WALL0, -MS) for i in range(10)}
    r = platform_result(run_of(forged), SETTINGS, PlatformContext("http://agent", ClockMode.ESTIMATE), 100.0, 101.5)
    s = r.statistics
    assert s.implausible_agent_stamps == 10 and s.successful_messages == 10
    assert s.mean_client_to_server is None and s.mean_server_processing is None and s.mean_network_rtt is None
    assert r.metadata.clock_offset_ms is None


def test_sink_lines_leave_out_one_way_fields_of_impossible_stamps():
    samples = frame([6, 7])
    samples.processing_ns[1] = -5000 * MS  # the second pong's agent claims it answered before it was asked
    first, second = lineproto.sample_lines(INFO, HELLO, samples, RunningOffset())
    assert b"client_to_server=0.1," in first
    assert b"client_to_server" not in second and b"round_trip_time=0.25,message_number=2i " in second
