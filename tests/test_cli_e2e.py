"""End to end: the real CLI, a real embedded echo agent, real sockets on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

# The original README's example output, key by key, with the JSON type each must keep.
SEED_MEASUREMENT = {
    "round_trip_time": float,
    "client_to_server": float,
    "server_to_client": float,
    "message_number": int,
    "timestamp": float,
}
SEED_STATISTICS = {
    "total_messages": int,
    "successful_messages": int,
    "failed_messages": int,
    "packet_loss_rate": float,
    "mean_rtt": float,
    "median_rtt": float,
    "min_rtt": float,
    "max_rtt": float,
    "std_dev_rtt": float,
    "p50_rtt": float,
    "p95_rtt": float,
    "p99_rtt": float,
    "jitter": float,
}
SEED_METADATA = {
    "start_time": float,
    "end_time": float,
    "duration_ms": float,
    "iterations": int,
    "timeout_ms": int,
    "platform": str,
    "room_url": (str, type(None)),
    "location_id": str,
    "run_id": str,
}
ADDED_STATISTICS = (
    "p99_9_rtt",
    "jitter_rfc3550",
    "mean_server_processing",
    "mean_network_rtt",
    "send_lag_p50",
    "send_lag_p99",
    "send_lag_max",
    "duplicate_messages",
    "late_messages",
    "out_of_order_messages",
)
ADDED_METADATA = (
    "host",
    "worker_cpu_s",
    "worker_measuring_cpu_s",
    "connect_time_ms",
    "clock_mode",
    "clock_offset_ms",
    "clock_offset_uncertainty_ms",
    "engine_version",
    "sdk_versions",
    "partial",
)


def assert_seed_shape(result: dict, platform: str, iterations: int) -> None:
    assert {"platform", "measurements", "statistics", "metadata"} <= result.keys()
    assert result["platform"] == platform
    for key, kind in SEED_STATISTICS.items():
        assert isinstance(result["statistics"][key], kind) or (
            kind is float and isinstance(result["statistics"][key], int)
        ), key
    for key, kind in SEED_METADATA.items():
        assert isinstance(result["metadata"][key], kind), key
    for m in result["measurements"]:
        for key, kind in SEED_MEASUREMENT.items():
            assert isinstance(m[key], kind), (key, m)
    for key in ADDED_STATISTICS:
        assert key in result["statistics"], key
    for key in ADDED_METADATA:
        assert key in result["metadata"], key
    assert result["metadata"]["iterations"] == iterations
    assert result["metadata"]["platform"] == platform


@pytest.mark.parametrize("platform", ["webrtc", "udp"])
def test_embedded_agent_run_writes_seed_json(cli, tmp_path, platform):
    out = tmp_path / "result.json"
    proc = cli(
        "--platform",
        platform,
        "--iterations",
        "50",
        "--cooldown",
        "5",
        "--timeout",
        "2000",
        "--location",
        "lab-1",
        "--output",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert_seed_shape(result, platform, 50)
    stats, meta = result["statistics"], result["metadata"]
    assert stats["total_messages"] == 50 and stats["successful_messages"] == 50
    assert stats["failed_messages"] == 0 and stats["packet_loss_rate"] == 0.0
    assert meta["location_id"] == "lab-1" and meta["timeout_ms"] == 2000 and meta["partial"] is False
    assert meta["clock_mode"] == "same-host"
    assert 0 < meta["worker_measuring_cpu_s"] < meta["worker_cpu_s"]  # imports and joining are not measuring
    assert [m["message_number"] for m in result["measurements"]] == list(range(1, 51))
    for m in result["measurements"]:
        assert 0 < m["round_trip_time"] < 100, m
        assert m["network_rtt"] <= m["round_trip_time"]
        # one-way estimates split the network RTT exactly (up to the 1e-6 ms rounding of each)
        assert m["client_to_server"] + m["server_to_client"] == pytest.approx(m["network_rtt"], abs=3e-6)
    assert stats["min_rtt"] <= stats["p50_rtt"] <= stats["p95_rtt"] <= stats["p99_rtt"] <= stats["max_rtt"] * 1.001
    assert "RTT" in proc.stdout and platform in proc.stdout


def test_two_platforms_side_by_side(cli, tmp_path):
    out = tmp_path / "both.json"
    proc = cli(
        "--platform", "webrtc", "--platform", "udp", "--iterations", "30", "--cooldown", "5", "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert set(doc["results"]) == {"webrtc", "udp"}
    assert (
        doc["results"]["udp"]["metadata"]["run_id"] == doc["run_id"] == doc["results"]["webrtc"]["metadata"]["run_id"]
    )
    for platform, result in doc["results"].items():
        assert_seed_shape(result, platform, 30)
    # one embedded agent per platform: one echo's loop never delays the other's pongs
    assert doc["results"]["udp"]["metadata"]["agent_url"] != doc["results"]["webrtc"]["metadata"]["agent_url"]
    assert sorted(doc["comparison"]["ranking_by_median_rtt"]) == ["udp", "webrtc"]
    assert len(doc["comparison"]["pairs"]) == 1


def test_unreliable_webrtc_channel(cli, tmp_path):
    out = tmp_path / "lossy.json"
    proc = cli("--platform", "webrtc", "--unreliable", "--iterations", "30", "--cooldown", "5", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["metadata"]["reliable"] is False
    assert result["statistics"]["successful_messages"] == 30


@pytest.mark.parametrize("mode", ["estimate", "synced"])
def test_clock_modes_split_the_network_rtt(cli, tmp_path, mode):
    out = tmp_path / "r.json"
    proc = cli("--platform", "udp", "--clock-mode", mode, "--iterations", "40", "--cooldown", "2", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    meta = result["metadata"]
    assert meta["clock_mode"] == mode
    # Same host, so the true offset is 0: the on-wire estimate must land near it.
    assert abs(meta["clock_offset_ms"]) < 1.0
    assert meta["clock_offset_uncertainty_ms"] > 0
    for m in result["measurements"]:
        assert m["client_to_server"] + m["server_to_client"] == pytest.approx(m["network_rtt"], abs=3e-6)
