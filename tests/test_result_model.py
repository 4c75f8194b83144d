"""The typed result model: the file it writes is byte for byte the earlier dict-built one, and it loads back."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from engine.parent.analysis.offset import ClockMode
from engine.parent.results import builder as results
from engine.parent.results.builder import platform_result
from engine.parent.results.compare import compare
from engine.parent.results.model import (
    FORMAT_VERSION,
    MultiResult,
    PlatformResult,
    ResultFormatError,
    dumps,
    load,
    platform_results,
)
from engine.parent.settings import PlatformContext
from engine.parent.sinks import disabled_report
from tests.test_results import RUN_END, RUN_START, SETTINGS, run_with

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def fixed_host(monkeypatch):
    """The host facts and version the golden files were written with (they vary between machines)."""
    monkeypatch.setattr(
        results,
        "host_facts",
        lambda: {"python": "3.11.7", "os": "Linux", "cpu_count": 2, "load_average": [0.5, 0.25, 0.1]},
    )
    monkeypatch.setattr(results, "version", lambda: "0.1.0")


def single() -> PlatformResult:
    run = run_with([(2, 2), (2.5, 1.25), (7, 3)] * 3 + [(1, 1)], lost=[14])
    agent = {"version": "0.1.0", "room_id": "r", "same_host": False}
    r = platform_result(run, SETTINGS, PlatformContext("http://agent", ClockMode.ESTIMATE, agent), RUN_START, RUN_END)
    r.metadata.sink = disabled_report()
    return r


def legacy() -> PlatformResult:
    run = run_with([(2, 2)] * 5)
    run.done.legacy_agent = True
    r = platform_result(run, SETTINGS, PlatformContext(None, ClockMode.SAME_HOST), RUN_START, RUN_END)
    r.metadata.sink = disabled_report()
    return r


def multi() -> MultiResult:
    one, leg = single(), legacy()
    rtts = {p: r.measurements.column("round_trip_time") for p, r in (("udp", one), ("webrtc", leg))}
    return MultiResult(
        "r1", {"udp": one, "webrtc": leg}, compare(rtts, {"udp": one.statistics, "webrtc": leg.statistics})
    )


@pytest.mark.parametrize(("build", "golden"), [(single, "result_single.json"), (multi, "result_multi.json")])
def test_the_file_is_the_one_the_dict_builder_wrote(fixed_host, build, golden):
    # The golden files were written by the dict-based builder this model replaced, for the same frames;
    # since then only room_url was added and start_time/duration_ms count from the first measured ping.
    assert dumps(build()) == (GOLDEN / golden).read_text()


@pytest.mark.parametrize("build", [single, legacy, multi])
def test_load_of_dump_is_the_same_result(fixed_host, build):
    original = build()
    loaded = load(dumps(original).encode())
    assert type(loaded) is type(original)
    assert loaded == original
    assert dumps(loaded) == dumps(original)  # and it writes the same text again


def test_loaded_measurements_keep_nulls_ints_and_columns(fixed_host):
    loaded = load(dumps(legacy()).encode())
    assert loaded.measurements[0]["client_to_server"] is None
    assert [m["message_number"] for m in loaded.measurements] == [1, 2, 3, 4, 5]
    assert loaded.measurements.column("round_trip_time").tolist() == pytest.approx([4.1] * 5)
    assert loaded.metadata.format_version == FORMAT_VERSION
    assert list(platform_results(load(dumps(multi()).encode()))) == ["udp", "webrtc"]


def test_a_version_1_file_loads_as_it_was_written():
    # Written by this project before start_time counted from the first measured ping (and before room_url,
    # kernel stamp sources, histograms): it loads, keeps saying version 1, and its values are the file's.
    text = (GOLDEN / "result_v1.json").read_bytes()
    r = load(text)
    assert isinstance(r, PlatformResult)
    assert r.metadata.format_version == 1 and FORMAT_VERSION == 2
    assert (r.metadata.start_time, r.metadata.end_time, r.metadata.duration_ms) == (100.0, 101.5, 1500.0)
    assert r.metadata.room_url is None and r.metadata.worker_peak_rss_mb is None and r.histograms is None
    assert r.statistics.total_messages == 11 and r.statistics.failed_messages == 1
    assert [m["message_number"] for m in r.measurements] == list(range(1, 11))
    assert [p.message_number for p in r.lost] == [12]


def test_files_it_cannot_read_are_refused_in_words(fixed_host):
    text = dumps(single())
    with pytest.raises(ResultFormatError, match="version 99"):
        load(text.replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99').encode())
    with pytest.raises(ResultFormatError, match="not a result file"):
        load(b"{not json")
    with pytest.raises(ResultFormatError, match="not a result file"):
        load(text.replace('"total_messages": 11', '"total_messages": "eleven"').encode())
    with pytest.raises(ResultFormatError, match="version None"):
        load(msgspec.json.encode({"platform": "udp"}))
