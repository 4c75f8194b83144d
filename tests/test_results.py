"""From worker frames to the original's JSON object: offsets applied per clock mode, loss, partial runs."""

from __future__ import annotations

import json
import os

import msgspec
import pytest

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.results.builder import platform_result, write_json
from engine.parent.results.model import MultiResult, PlatformResult
from engine.parent.results.output_file import check as check_writable
from engine.parent.settings import PlatformContext, RunSettings
from ipc.frames import Done, Hello, Lost, Samples

MS = 1_000_000
WALL0 = 1_790_000_000_000_000_000  # client wall clock at perf 0
THETA = 3 * MS  # the agent's clock runs 3 ms ahead
#: The run's start (before connecting) and end, Unix s: the first measured ping leaves 10 ms after perf 0.
RUN_START, RUN_END = WALL0 / 1e9 - 2.0, WALL0 / 1e9 + 1.5
SETTINGS = RunSettings(
    run_id="r1", iterations=5, timeout_ms=1000, cooldown_ms=10, warmup=2, payload_bytes=0, location_id="lab"
)


def run_with(one_way_ms: list[tuple[float, float]], lost: list[int] = (), done: bool = True) -> PlatformRun:
    """Samples whose forward/return delays (ms) are given; processing 0.1 ms; seqs from 3 (warmup 2)."""
    run = PlatformRun("udp")
    run.add(Hello("udp", 1, WALL0, 0, 50))
    cols: dict[str, list[int]] = {k: [] for k in ("seq", "due", "t1", "t4", "t2", "t3", "processing_ns")}
    for i, (fwd, back) in enumerate(one_way_ms):
        t1 = (i + 1) * 10 * MS
        t2 = WALL0 + t1 + round(fwd * MS) + THETA
        t3 = t2 + MS // 10
        t4 = t1 + round(fwd * MS) + MS // 10 + round(back * MS)
        for key, value in zip(cols, (i + 3, t1 - 20_000, t1, t4, t2, t3, t3 - t2)):
            cols[key].append(value)
    run.add(Samples(**cols))
    if lost:
        run.add(Lost(list(lost), [0] * len(lost), [s * 10 * MS for s in lost]))
    if done:
        run.add(Done(sent=len(one_way_ms) + len(lost) + 2, counters={"late": 1}))
    return run


def result(run: PlatformRun, mode: ClockMode, **context) -> PlatformResult:
    return platform_result(run, SETTINGS, PlatformContext("http://agent", mode, **context), RUN_START, RUN_END)


def test_estimate_mode_removes_a_known_offset():
    # Symmetric 2 ms + 2 ms exchanges, and asymmetric queueing on others: θ̂ comes from the fast, symmetric ones.
    run = run_with([(2, 2), (2, 2), (5, 2), (2, 9), (2, 2), (7, 3), (2, 2), (2, 2), (2, 2), (2, 2)])
    r = result(run, ClockMode.ESTIMATE)
    meta = r.metadata
    assert meta.clock_offset_ms == pytest.approx(3.0, abs=1e-6)
    assert meta.clock_offset_uncertainty_ms == pytest.approx(2.0, abs=1e-6)  # half the 4 ms minimum delay
    first = r.measurements[0]
    assert first["client_to_server"] == pytest.approx(2.0, abs=1e-6)
    assert first["server_to_client"] == pytest.approx(2.0, abs=1e-6)
    assert r.measurements[2]["client_to_server"] == pytest.approx(5.0, abs=1e-6)


def test_synced_mode_keeps_the_offset_in_the_split():
    # θ̂ = 3 ± 2 ms, within a 1.5 ms clock bound of θ = 0: the values stand (beyond it they are withheld, test_cautions).
    r = result(run_with([(2, 2)] * 4), ClockMode.SYNCED, clock_bound_ms=1.5)
    first = r.measurements[0]
    # θ = 0 is asserted by the user; the agent's 3 ms lead then shows in the split, and the sum still holds.
    assert first["client_to_server"] == pytest.approx(5.0, abs=1e-6)
    assert first["server_to_client"] == pytest.approx(-1.0, abs=1e-6)
    assert first["client_to_server"] + first["server_to_client"] == pytest.approx(first["network_rtt"], abs=2e-6)
    assert r.metadata.clock_offset_ms == pytest.approx(3.0, abs=1e-6)  # reported in every mode


def test_seed_fields_loss_and_warnings():
    r = result(run_with([(2, 2)] * 3, lost=[6, 7]), ClockMode.SAME_HOST)
    s, m = r.statistics, r.metadata
    assert (s.total_messages, s.successful_messages, s.failed_messages) == (5, 3, 2)
    assert s.packet_loss_rate == pytest.approx(0.4)
    assert s.late_messages == 1
    assert [x["message_number"] for x in r.measurements] == [1, 2, 3]
    assert [x.message_number for x in r.lost] == [4, 5]
    assert r.measurements[0]["round_trip_time"] == pytest.approx(4.1)
    assert r.measurements[0]["send_lag"] == pytest.approx(0.02)
    assert r.measurements[0]["timestamp"] == pytest.approx((WALL0 + 10 * MS) / 1e9)
    assert s.mean_server_processing == pytest.approx(0.1)
    # Timed from the first measured ping, as the original times its run; connecting is connect_time_ms.
    assert m.start_time == pytest.approx((WALL0 + 10 * MS) / 1e9) and m.end_time == RUN_END
    assert m.duration_ms == pytest.approx(1490.0) and m.partial is False and m.iterations == 5
    assert any("2 of 5 pings were lost" in w for w in m.warnings)


def test_worker_that_died_gives_a_partial_result_with_what_it_sent():
    r = result(run_with([(2, 2)] * 2, done=False), ClockMode.SAME_HOST)
    assert r.metadata.partial is True
    assert r.statistics.successful_messages == 2
    assert any("only 2 of 5" in w for w in r.metadata.warnings)


def test_a_run_whose_first_measured_ping_was_lost_starts_at_that_ping():
    run = run_with([(2, 2)] * 2)
    run.add(Lost([5], [0], [5 * MS]))  # sent before the first answered one (10 ms), its pong never came
    assert result(run, ClockMode.SAME_HOST).metadata.start_time == pytest.approx((WALL0 + 5 * MS) / 1e9)


def test_no_samples_at_all_still_has_every_key(tmp_path):
    run = PlatformRun("udp")
    r = result(run, ClockMode.SAME_HOST)
    assert r.metadata.start_time == RUN_START  # no ping measured: the run's own start
    assert r.statistics.total_messages == 0 and r.statistics.packet_loss_rate == 0.0
    assert r.statistics.mean_rtt is None and r.measurements == []
    write_json(tmp_path / "r.json", r)
    assert json.loads((tmp_path / "r.json").read_text())["measurements"] == []


def test_write_json_is_atomic_and_checks_come_first(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}  # the old file survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # and no temp file is left
    with pytest.raises(OSError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.json")
    with pytest.raises(OSError, match="is a directory"):
        check_writable(tmp_path)


def test_streamed_file_is_exactly_what_json_dump_writes_for_row_dicts(tmp_path, monkeypatch):
    # Chunks of 4 rows, so a 10-sample run crosses chunk boundaries; nested as in a side-by-side run.
    monkeypatch.setattr("engine.parent.results.measurements.CHUNK_ROWS", 4)
    one_way = result(run_with([(2, 2), (2.5, 1.25), (7, 3)] * 3 + [(1, 1)], lost=[14]), ClockMode.ESTIMATE)
    legacy_run = run_with([(2, 2)] * 5)
    legacy_run.done.legacy_agent = True
    legacy = result(legacy_run, ClockMode.SAME_HOST)
    assert legacy.measurements[-1]["client_to_server"] is None
    for doc in (one_way, MultiResult("r1", {"udp": one_way, "webrtc": legacy}, {})):
        write_json(tmp_path / "r.json", doc)
        as_dicts = msgspec.to_builtins(doc, enc_hook=list)  # measurements as a plain list of dicts
        assert (tmp_path / "r.json").read_text() == json.dumps(as_dicts, indent=2) + "\n"
    rows = list(one_way.measurements)
    assert len(rows) == 10 and rows[4] == one_way.measurements[4] == one_way.measurements[-6]
    assert one_way.measurements[8:] == rows[8:]
    assert one_way.measurements.column("round_trip_time").tolist() == [r["round_trip_time"] for r in rows]


def test_late_pongs_are_named_by_message_number_beside_lost():
    run = run_with([(2, 2)] * 3, lost=[6, 7])
    run.done.late_seqs = [2, 7]  # a warmup ping's late pong is no measured ping's
    r = result(run, ClockMode.SAME_HOST)
    assert r.late == [5] and [p.message_number for p in r.lost] == [4, 5]
