"""The original Voice RTC Benchmark and this one, both ways, through the loopback LiveKit server.

1. The original runner against our LiveKit echo agent.
2. Our runner against the original LiveKit echo agent, a livekit-agents worker
   that the server dispatches into the room named in the runner's token.
3. The original runner against the original agent: the control.

100 pings each; ≥ 99 answered, RTTs sane, and every JSON file checked with
the original's own pydantic models wherever they apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import original
from tests.agent_http import AgentProcess, agent_env
from tests.conftest import run_cli
from tests.livekit_loopback.launch import ServerProcess

#: Root and a test namespace for the loopback server; the original's agent and runner are real programs too.
pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server]

PINGS = 100
ANSWERED = 99
RUNNER_ARGS = ("--iterations", str(PINGS), "--cooldown", "10", "--timeout", "2000")
#: The original runner gives up waiting for a participant_connected after 10 s and pings anyway.
NO_AGENT_SEEN = "Timeout waiting for agent"


@pytest.fixture(scope="session")
def upstream(tmp_path_factory) -> Path:
    return original.install(tmp_path_factory.mktemp("upstream") / "venv")


def assert_sane_rtts(rtts: list[float], timeout_ms: float = 2000) -> None:
    """Milliseconds, not seconds or µs: no round trip over four data-channel hops takes under 50 µs, and
    none counted took longer than the timeout. How long they took is perf/'s business, not a test's."""
    assert all(0.05 < rtt < timeout_ms for rtt in rtts), (min(rtts), max(rtts))


def run_original_runner(upstream: Path, agent_url: str, out: Path, logs) -> dict:
    """The original runner, 100 pings: exit 0, never gave up waiting for the echo, and its file
    accepted by its own model with ≥ 99 answered and sane RTTs."""
    proc = original.run_runner(upstream, agent_url, out, *RUNNER_ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + logs()
    assert NO_AGENT_SEEN not in proc.stdout + proc.stderr  # the echo joined after it, as it waits for
    text = out.read_text()
    original.validate(upstream, "BenchmarkResult", text)
    result = json.loads(text)
    check_counts_and_rtts(result)
    return result


def check_counts_and_rtts(result: dict) -> None:
    stats = result["statistics"]
    assert stats["total_messages"] == PINGS and stats["successful_messages"] >= ANSWERED, stats
    assert_sane_rtts([m["round_trip_time"] for m in result["measurements"]])
    # -s shows the figures
    print(f"{stats['successful_messages']}/{PINGS} answered, RTT p50 {stats['p50_rtt']:.3f} ms", end=" ")


def test_the_original_runner_against_our_agent(livekit_server: ServerProcess, upstream: Path, tmp_path: Path) -> None:
    with AgentProcess("livekit", agent_env(**livekit_server.credentials), tmp_path) as agent:
        result = run_original_runner(upstream, agent.url, tmp_path / "out.json", lambda: agent.output)
    # Its one-way figures subtract our pong's instants from its own perf_counter stamps: same clock, same unit.
    for m in result["measurements"]:
        slack = 0.01  # ms; the echo maps its wall-clock receive stamp onto perf_counter
        assert -slack <= m["client_to_server"] <= m["round_trip_time"] + slack, m
        assert -slack <= m["server_to_client"] <= m["round_trip_time"] + slack, m


def test_our_runner_against_the_original_agent_dispatched_by_the_server(
    livekit_server: ServerProcess, upstream: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    with original.OriginalAgent(upstream, livekit_server, tmp_path / "original-agent.log") as agent:
        args = ("--platform", "livekit", "--agent-url", agent.url, "--connect-timeout", "60", "--output", str(out))
        proc = run_cli(*args, *RUNNER_ARGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + agent.output + livekit_server.server_log()
    server_log = livekit_server.server_log()
    assert "assigned to worker" in server_log and " is JS_RUNNING" in server_log, server_log
    result = json.loads(out.read_text())
    check_counts_and_rtts(result)
    stats, meta, measurements = result["statistics"], result["metadata"], result["measurements"]
    assert meta["legacy_agent"] is True and meta["one_way_available"] is False
    # The original's models, where our file keeps its shape: statistics and metadata whole, and every
    # measurement but the one-way values, which we write as null when the agent sent no instants of its own.
    original.validate(upstream, "BenchmarkStatistics", json.dumps(stats))
    original.validate(upstream, "BenchmarkMetadata", json.dumps(meta))
    assert all(m["client_to_server"] is None and m["server_to_client"] is None for m in measurements)
    unsplit = [{**m, "client_to_server": 0.0, "server_to_client": 0.0} for m in measurements]
    original.validate(upstream, "LatencyMeasurement", json.dumps(unsplit), many=True)


def test_the_original_runner_against_the_original_agent(
    livekit_server: ServerProcess, upstream: Path, tmp_path: Path
) -> None:
    with original.OriginalAgent(upstream, livekit_server, tmp_path / "original-agent.log") as agent:
        run_original_runner(
            upstream, agent.url, tmp_path / "out.json", lambda: agent.output + livekit_server.server_log()
        )
