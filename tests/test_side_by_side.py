"""Side by side done right (phase-offset schedules, --pin, --duration) and the outputs for pipelines."""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pytest

from engine.worker.pacer import phased_start
from tests.conftest import CLI, cli_env


def test_phased_start_is_the_next_instant_on_the_shared_grid():
    assert phased_start(1_000_000_123, 10_000_000, 5_000_000) == 1_005_000_000
    assert phased_start(1_005_000_000, 10_000_000, 5_000_000) == 1_005_000_000
    assert phased_start(1_005_000_001, 10_000_000, 5_000_000) == 1_015_000_000
    assert phased_start(77, 0, 0) == 77  # back to back: no grid


def test_two_platforms_send_half_an_interval_apart_for_the_duration_asked(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("--platform", "udp,webrtc", "--duration", "1.5s", "--cooldown", "10", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    residues = {}
    for platform, r in results.items():
        meta = r["metadata"]
        assert meta["iterations"] == 150 and meta["duration_requested_s"] == 1.5
        # When each ping was due, on the wall clock, modulo the interval (ms): one value per worker.
        due = np.array([m["timestamp"] * 1e3 - m["send_lag"] for m in r["measurements"]])
        residues[platform] = (due % 10.0, meta["phase_offset_ms"])
    assert residues["udp"][1] == 0.0 and residues["webrtc"][1] == 5.0
    apart = (np.median(residues["webrtc"][0]) - np.median(residues["udp"][0])) % 10.0
    assert apart == pytest.approx(5.0, abs=0.05)  # the two clocks' anchors agree to µs
    assert np.ptp(residues["udp"][0]) < 0.01  # every ping of a worker on its grid


def descendants(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return []
    return kids + [d for k in kids for d in descendants(k)]


def worker_cores(runner_pid: int) -> set[str] | None:
    """The CPU lists every thread of the runner's worker may run on, or None while there is no worker yet."""
    for pid in descendants(runner_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"engine.worker" not in f.read():
                    continue
            lists = set()
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/status") as f:
                    lists |= {line.split()[1] for line in f if line.startswith("Cpus_allowed_list:")}
            return lists
        except OSError:
            continue
    return None


def test_pin_puts_a_worker_on_a_core_of_its_own_or_says_why_not(tmp_path):
    cores = sorted(os.sched_getaffinity(0))
    out = tmp_path / "r.json"
    args = ["--platform", "udp", "--iterations", "400", "--cooldown", "10", "--pin", "--output", str(out)]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[str] | None = None
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if (now := worker_cores(proc.pid)) is not None:
            seen = now  # the last reading while the worker ran (its threads included): after it read its spec
        time.sleep(0.2)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    meta = json.loads(out.read_text())["metadata"]
    if len(cores) >= 2:
        assert meta["pinned_cpu"] == cores[-1] and not any("--pin" in w for w in meta["warnings"])
        assert seen == {str(cores[-1])}
    else:
        assert meta["pinned_cpu"] is None and any("were not pinned" in w for w in meta["warnings"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--duration", "10m", "--iterations", "5"], "give --iterations or --duration, not both"),
        (["--duration", "0s"], "--duration must be a positive time"),
        (["--duration", "ten minutes"], "--duration must be a positive time"),
        (["--duration", "5s", "--cooldown", "0"], "--duration needs a --cooldown above 0"),
    ],
)
def test_bad_durations_are_one_line_and_exit_2(cli, args, needle):
    proc = cli("--platform", "udp", *args)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert needle in proc.stderr


def test_summary_only_and_progress_lines_in_a_log(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("--platform", "udp", "--duration", "6s", "--cooldown", "20", "--summary-only", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["measurements"] == [] and doc["statistics"]["successful_messages"] == 300
    assert doc["histograms"]["rtt"].startswith("HIST")
    # stderr is a pipe here: one line every 5 s and one at the end, no bar.
    lines = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) == 2, proc.stderr
    assert lines[-1].startswith("progress: 300/300 pings (100%)") and "udp 300 answered 0 lost" in lines[-1]
    assert "\r" not in proc.stderr


def test_quiet_prints_nothing_on_success(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("--platform", "udp", "--iterations", "20", "--cooldown", "5", "--quiet", "--output", str(out))
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert len(json.loads(out.read_text())["measurements"]) == 20
