"""The result's warnings mean something to act on: none for a healthy loopback run, still there for an unstable one."""

from __future__ import annotations

import json
import os
import subprocess

import msgspec
import pytest

from engine.parent.analysis.offset import ClockMode
from engine.parent.results.builder import warnings
from tests.conftest import CLI, cli_env
from tests.test_results import SETTINGS, result, run_with

STATS = result(run_with([(2, 2)] * 5), ClockMode.SAME_HOST).statistics


def warned(**figures) -> list[str]:
    one_way = {"mean_client_to_server": 0.03, "mean_server_to_client": 0.03}  # plausible: the clock rules stay quiet
    return warnings(msgspec.structs.replace(STATS, **one_way, **figures), SETTINGS, None, ClockMode.SAME_HOST)


def test_loopback_noise_is_not_a_warning():
    # What a healthy udp run on a busy 2-core machine shows: 60 µs RTTs, 40 µs spread, 250 µs send lag p99.
    assert warned(mean_rtt=0.07, median_rtt=0.06, std_dev_rtt=0.04, send_lag_p99=0.25) == []


@pytest.mark.parametrize(
    ("figures", "needle"),
    [
        ({"mean_rtt": 25.0, "median_rtt": 20.0, "std_dev_rtt": 9.0}, "unstable"),  # a jittery cloud path
        ({"mean_rtt": 0.5, "median_rtt": 0.4, "std_dev_rtt": 3.0}, "unstable"),  # loopback with long stalls
        ({"mean_rtt": 20.0, "median_rtt": 20.0, "std_dev_rtt": 0.5, "send_lag_p99": 4.0}, "send lag"),  # starved client
        ({"mean_rtt": 0.1, "median_rtt": 0.1, "std_dev_rtt": 0.05, "send_lag_p99": 5.0}, "send lag"),
    ],
)
def test_genuine_instability_still_warns(figures, needle):
    (line,) = warned(**figures)
    assert needle in line


def healthy_run(tmp_path, platform: str) -> tuple[dict, str]:
    """200 pings at real-time priority: the runner, its workers and its agent get a CPU when they wake.

    On a test machine shared with other jobs that takes the priority, or the warnings would be right.
    """
    out = tmp_path / "r.json"
    args = ["--platform", platform, "--iterations", "200", "--cooldown", "5", "--output", str(out)]
    proc = subprocess.run(
        ["chrt", "--fifo", "10", *CLI, *args], capture_output=True, text=True, timeout=120, env=cli_env(), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["statistics"]["failed_messages"] == 0
    return result, proc.stdout + proc.stderr


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the run real-time CPU priority (chrt)")
@pytest.mark.parametrize("platform", ["udp", "webrtc"])
def test_healthy_loopback_run_shows_no_warning(tmp_path, platform):
    # A second run is allowed: a stall from another job on a shared machine is a true warning for that run,
    # while a miscalibrated rule warns on every run (before the floors, both warnings came every time).
    for _attempt in range(2):
        result, printed = healthy_run(tmp_path, platform)
        if not result["metadata"]["warnings"]:
            break
    assert result["metadata"]["warnings"] == [], result["statistics"]
    assert "warning" not in printed
