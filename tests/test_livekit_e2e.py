"""LiveKit end to end with no cloud: the real SDK on both sides of the loopback server.

``echo-agent --platform livekit`` joins the loopback server (in a network
namespace, root only) with the URL, key and secret it is given, and
``benchmark-runner --platform livekit`` measures through it: the same
processes, SDK and code paths as against LiveKit Cloud. The mid-run failures
are real too: the echo agent killed, the server stopped or crashed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from livekit import api

from tests.agent_http import AgentProcess, agent_env, run_agent
from tests.agent_stub import StubAgent
from tests.conftest import CLI, cli_env
from tests.livekit_loopback.launch import ServerProcess
from tests.test_cli_e2e import assert_seed_shape
from tests.test_live_platforms import assert_nothing_secret

#: Root and a test namespace for the loopback server, which is a real server process.
pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server]

WARMUP = 5
COOLDOWN_MS, TIMEOUT_MS = 10, 1000


def echo_agent(server: ServerProcess, tmp_path: Path) -> AgentProcess:
    return AgentProcess("livekit", agent_env(**server.credentials), tmp_path)


def assert_secret_kept(server: ServerProcess, *outputs: str) -> None:
    text = "".join(outputs)
    assert server.api_secret not in text, "the API secret was printed"
    assert_nothing_secret(text)


class Runner:
    """``benchmark-runner`` in the background, its output in files, so a test can act mid-run."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "out.json"
        self._stdout, self._stderr = tmp_path / "runner.out", tmp_path / "runner.err"
        with open(self._stdout, "w") as stdout, open(self._stderr, "w") as stderr:
            self.proc = subprocess.Popen(
                [*CLI, *args, "--output", str(self.out)], stdout=stdout, stderr=stderr, env=cli_env(), cwd=tmp_path
            )

    @property
    def stderr(self) -> str:
        return self._stderr.read_text()

    def wait_until_pinging(self, timeout: float = 60.0) -> None:
        """Until the progress bar appears: the first measured ping was answered or lost."""
        deadline = time.monotonic() + timeout
        while "pinging" not in self.stderr:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"the run never started pinging:\n{self.stderr}")
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the run did not end within {timeout} s:\n{self.stderr}")

    def result(self) -> dict:
        return json.loads(self.out.read_text())


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "lossy"])
def test_two_hundred_pings_through_the_loopback_server(livekit_server, tmp_path, cli, reliable):
    iterations = 200
    with echo_agent(livekit_server, tmp_path) as agent:
        proc = cli(
            *("--platform", "livekit", "--agent-url", agent.url, "--iterations", str(iterations)),
            *("--warmup", str(WARMUP), "--cooldown", "10", "--timeout", "2000"),
            *("--output", str(tmp_path / "out.json")),
            *([] if reliable else ["--unreliable"]),
        )
    assert proc.returncode == 0, proc.stderr + livekit_server.server_log()
    assert agent.returncode == 0, agent.output
    result = json.loads((tmp_path / "out.json").read_text())
    assert_seed_shape(result, "livekit", iterations)
    stats, meta = result["statistics"], result["metadata"]
    assert meta["reliable"] is reliable and meta["error"] is None and not meta["partial"]
    assert meta["room_url"] == livekit_server.url  # LiveKit's server URL, as the original writes it
    # Timed from the first measured ping: the join and the warmup are connect_time_ms, not duration_ms.
    firsts = [result["measurements"][0]["timestamp"]] + [lost["timestamp"] for lost in result["lost"][:1]]
    assert meta["start_time"] == pytest.approx(min(firsts), abs=1e-6)
    assert stats["total_messages"] == iterations
    assert stats["successful_messages"] + stats["failed_messages"] == iterations
    if reliable:
        assert stats["failed_messages"] == 0 and stats["packet_loss_rate"] == 0
    # The echo agent's pongs carried t2_ns/t3_ns: one-way splits and the agent's processing time exist.
    assert meta["legacy_agent"] is False and meta["one_way_available"] is True
    for m in result["measurements"]:
        assert m["client_to_server"] is not None and m["server_to_client"] is not None
        assert 0 < m["server_processing"] < m["round_trip_time"]
        assert m["network_rtt"] == pytest.approx(m["round_trip_time"] - m["server_processing"], abs=2e-6)
    assert livekit_server.stop() == 0
    # Pings and pongs went over the channel asked for, and only that one.
    used, unused = ("_reliable", "_lossy") if reliable else ("_lossy", "_reliable")
    relayed = livekit_server.stats["relayed"]
    assert relayed.get(unused, 0) == 0
    assert relayed[used] >= 2 * stats["successful_messages"]
    if reliable:
        assert relayed[used] == 2 * (iterations + WARMUP)
    assert_secret_kept(livekit_server, proc.stdout, proc.stderr, agent.output)


def test_livekit_side_by_side_with_the_udp_baseline(livekit_server, tmp_path, cli):
    with echo_agent(livekit_server, tmp_path) as agent:
        proc = cli(
            *("--platform", "livekit,udp", "--agent-url", f"livekit={agent.url}", "--iterations", "100"),
            *("--cooldown", "10", "--output", str(tmp_path / "out.json")),
        )
    assert proc.returncode == 0, proc.stderr + livekit_server.server_log()
    result = json.loads((tmp_path / "out.json").read_text())
    for platform in ("livekit", "udp"):
        assert_seed_shape(result["results"][platform], platform, 100)
        assert result["results"][platform]["statistics"]["successful_messages"] == 100
    comparison = result["comparison"]
    assert comparison["ranking_by_median_rtt"] == ["udp", "livekit"]  # one socket vs four data-channel hops
    [pair] = comparison["pairs"]
    assert pair["platforms"] == ["udp", "livekit"] and pair["significant"] is True


def test_a_runner_given_a_forged_token_fails_with_one_clear_error(livekit_server, tmp_path, cli):
    forged = (
        api.AccessToken(livekit_server.api_key, "a-secret-the-server-does-not-have-0123")
        .with_identity("benchmark-runner")
        .with_grants(api.VideoGrants(room_join=True, room="bench-forged"))
        .to_jwt()
    )
    with StubAgent() as agent:
        agent.connect_body = {
            "room_id": "stub",
            "livekit": {"server_url": livekit_server.url, "room_name": "bench-forged", "token": forged},
        }
        proc = cli("--platform", "livekit", "--agent-url", agent.url, "--iterations", "5", "--connect-timeout", "60")
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("benchmark-runner: error:")]
    assert len(errors) == 1, proc.stderr
    assert f"could not join LiveKit room bench-forged at {livekit_server.url}" in errors[0]
    assert "401" in errors[0] or "nauthorized" in errors[0], errors[0]
    assert forged not in proc.stdout + proc.stderr
    assert "refused a join: invalid token" in livekit_server.server_log()


def test_an_echo_agent_with_the_wrong_secret_refuses_to_start(livekit_server, tmp_path):
    wrong = {**livekit_server.credentials, "LIVEKIT_API_SECRET": "wrong-secret-for-this-server-0123456789"}
    proc = run_agent(tmp_path, "livekit", agent_env(**wrong))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "LIVEKIT_API_KEY / LIVEKIT_API_SECRET were refused" in lines[0], proc.stderr
    assert "HTTP 401" in lines[0]
    assert wrong["LIVEKIT_API_SECRET"] not in proc.stdout + proc.stderr


def wait_until_relayed(server: ServerProcess, runner: Runner, packets: int, timeout: float = 60.0) -> None:
    """Until ``server`` has relayed ``packets`` data packets; fails if the run ends first or it takes too long."""
    deadline = time.monotonic() + timeout
    while (relayed := server.relayed_now()) < packets:
        if runner.proc.poll() is not None or time.monotonic() > deadline:
            runner.proc.kill()
            pytest.fail(f"the server relayed {relayed} of {packets} packets:\n{runner.stderr}")
        time.sleep(0.02)


def run_and_interrupt(
    server: ServerProcess, tmp_path: Path, iterations: int, act, wait_s: float
) -> tuple[int, Runner, AgentProcess]:
    """A run at 100 pings/s (1 s timeout) with ``act(agent)`` done once about 100 pings were answered."""
    with echo_agent(server, tmp_path) as agent:
        runner = Runner(
            tmp_path,
            *("--platform", "livekit", "--agent-url", agent.url, "--iterations", str(iterations)),
            *("--warmup", str(WARMUP), "--cooldown", str(COOLDOWN_MS), "--timeout", str(TIMEOUT_MS)),
        )
        runner.wait_until_pinging()
        # About 100 pings answered: the server relayed them and their pongs (warmup included).
        wait_until_relayed(server, runner, 2 * (WARMUP + 100))
        act(agent)
        code = runner.wait(wait_s)
    return code, runner, agent


def test_echo_leaving_mid_run_loses_the_later_pings_and_the_run_ends_on_time(livekit_server, tmp_path):
    iterations = 400
    # A crash: the server sees the echo's socket close and tells the runner it left.
    code, runner, _ = run_and_interrupt(livekit_server, tmp_path, iterations, lambda a: a.stop(signal.SIGKILL), 120)
    assert code == 0, runner.stderr
    result = runner.result()
    stats, meta = result["statistics"], result["metadata"]
    assert meta["pings_sent"] == WARMUP + iterations and not meta["partial"]  # the run went on to its end
    assert 0 < stats["successful_messages"] < iterations
    assert stats["failed_messages"] == iterations - stats["successful_messages"]
    answered = [m["message_number"] for m in result["measurements"]]
    assert answered == list(range(1, len(answered) + 1))  # every ping before the crash, none after
    assert any("echo participant 'echo-agent' left" in w for w in meta["warnings"]), meta["warnings"]
    # On time, relative to the run's own schedule (pings, then one timeout for the last): waiting on the
    # reconnecting SDK or a connect timeout would take several schedules.
    schedule_s = (iterations * COOLDOWN_MS + TIMEOUT_MS) / 1000
    first_ping_to_end_s = meta["end_time"] - result["measurements"][0]["timestamp"]
    assert first_ping_to_end_s / schedule_s < 1.4, (first_ping_to_end_s, schedule_s)


def assert_stopped_with(runner: Runner, iterations: int, reason: str) -> None:
    """Exit 1, the platform's reason in one error line and in the JSON, and what was measured kept."""
    errors = [line for line in runner.stderr.splitlines() if line.startswith("benchmark-runner: error: ")]
    assert len(errors) == 1, runner.stderr
    error = errors[0].removeprefix("benchmark-runner: error: ")
    assert re.fullmatch(rf"livekit: LiveKit disconnected this runner from room bench-[0-9a-f]+ \({reason}\)", error)
    result = runner.result()
    stats, meta = result["statistics"], result["metadata"]
    assert meta["partial"] is True and meta["error"] == error
    assert not [w for w in meta["warnings"] if "disconnected this runner" in w]  # said once, as the error
    assert 0 < stats["successful_messages"] <= meta["pings_sent"] - WARMUP < iterations  # stopped early, kept
    assert len(result["measurements"]) == stats["successful_messages"]


def test_server_stopped_mid_run_is_a_clear_error_and_the_partial_result_is_kept(livekit_server, tmp_path):
    iterations = 1000
    # A clean stop: the server tells every participant to leave.
    code, runner, agent = run_and_interrupt(livekit_server, tmp_path, iterations, lambda a: livekit_server.stop(), 60)
    assert code == 1, runner.stderr
    assert_stopped_with(runner, iterations, "SERVER_SHUTDOWN")
    # The agent outlives its server and says why its echo is gone.
    assert agent.returncode == 0
    assert f"LiveKit disconnected the echo from {livekit_server.url} (SERVER_SHUTDOWN)" in agent.output


def test_server_crashing_mid_run_is_an_error_once_the_sdk_gives_up(livekit_server, tmp_path):
    iterations = 6000  # a minute of pings: longer than the SDK's reconnect attempts (about 20 s here)
    code, runner, _ = run_and_interrupt(
        livekit_server, tmp_path, iterations, lambda a: livekit_server.stop(signal.SIGKILL), 120
    )
    assert code == 1, runner.stderr
    assert_stopped_with(runner, iterations, "UNKNOWN_REASON")
    assert any("pings until the SDK reconnects are lost" in w for w in runner.result()["metadata"]["warnings"])
