"""Runs that outlive the agent's session, and echoes that stop answering: said plainly, never passed off as loss."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import threading
import time

import aiohttp
import pytest

from agent.app import EchoAgent
from agent.rooms import LocalRooms
from engine.parent.settings import RunSettings
from engine.parent.supervision import agent_client
from engine.parent.supervision.orchestrator import HANG_SLACK_S
from engine.parent.supervision.runner import session_s
from tests.agent_http import AgentProcess, agent_env, call, run, serving
from tests.conftest import CLI, cli_env


def test_session_shorter_than_the_run_stops_it_with_an_error_not_loss(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli(
        *("--platform", "udp", "--iterations", "400", "--cooldown", "10", "--output", str(out)),
        env={"ECHO_AGENT_MAX_SESSION_S": "2"},  # the embedded agent's cap
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads(out.read_text())
    meta, stats = result["metadata"], result["statistics"]
    assert meta["partial"] and "session expired" in meta["error"]
    assert stats["failed_messages"] == 0 and 0 < stats["total_messages"] < 400
    assert any("session ends" in w for w in meta["warnings"])
    assert "session expired" in proc.stderr


def test_agent_grants_the_asked_duration_up_to_its_cap():
    async def scenario():
        agent = EchoAgent({"udp": LocalRooms("udp", "127.0.0.1")}, max_session_s=100)
        async with serving(agent) as url, aiohttp.ClientSession() as http:
            answers = []
            for asked in (50, 1000.5):
                status, body = await call(http, "POST", f"{url}/connect", json={"platform": "udp", "run_id": "r", "duration_s": asked})
                assert status == 200, body
                answers.append((body["session"], body["udp"]["expires_at"] - time.time()))
            refused = [
                (await call(http, "POST", f"{url}/connect", json={"platform": "udp", "run_id": "r", "duration_s": bad}))[0]
                for bad in (0, -5, "long", True, 1e400)
            ]
            return answers, refused

    (short, short_left), (long, long_left) = (answers := run(scenario()))[0]
    assert short == {"duration_s": 50, "max_duration_s": 100, "capped": False} and 48 < short_left <= 50
    assert long == {"duration_s": 100, "max_duration_s": 100, "capped": True} and 98 < long_left <= 100
    assert answers[1] == [400] * 5


def test_runner_asks_for_a_session_as_long_as_its_schedule():
    settings = RunSettings(
        "r", iterations=1000, timeout_ms=2000, cooldown_ms=1000, warmup=5, payload_bytes=0, location_id="x"
    )
    needed = session_s(settings, connect_timeout_s=30)
    assert needed == 30 + 1005 + 2 + HANG_SLACK_S  # longer than the agent's 600 s default

    async def scenario():
        async with serving(EchoAgent({"udp": LocalRooms("udp", "127.0.0.1")})) as url:
            _, credentials = await agent_client.connect(url, "udp", True, 5, needed, run_id="r")
            return credentials["expires_at"] - time.time(), credentials["session_ends_at"] - time.time()

    agents_clock, own_clock = run(scenario())
    assert needed - 2 < agents_clock <= needed + 1
    assert needed - 3 < own_clock <= needed - 1  # on this host's clock, never later than the agent's end


def _read_lines(stream, seen: list[str], found: dict[str, threading.Event]) -> None:
    """Keep ``stream``'s lines in ``seen``; set each needle's event once a line has it (all of them at the end)."""
    for line in iter(stream.readline, ""):
        seen.append(line)
        for needle, event in found.items():
            if needle in line:
                event.set()
    for event in found.values():
        event.set()


#: The worker's warning when the echo stops answering.
SILENT = "no answer from the echo"


@pytest.mark.parametrize("platform", ["udp", "webrtc"])
def test_echo_that_stops_answering_is_a_warning(tmp_path, platform):
    out = tmp_path / "r.json"
    with AgentProcess("webrtc", agent_env(), tmp_path) as agent:
        runner = subprocess.Popen(
            [
                *CLI,
                "--platform",
                platform,
                "--agent-url",
                agent.url,
                "--iterations",
                "300",
                "--cooldown",
                "10",
                "--timeout",
                "300",
                "--output",
                str(out),
                "--verbose",  # the worker's warning is logged when it comes
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=tmp_path,
        )
        seen: list[str] = []
        found = {needle: threading.Event() for needle in ("pinging", SILENT)}
        reader = threading.Thread(target=_read_lines, args=(runner.stderr, seen, found), daemon=True)
        reader.start()
        try:
            assert found["pinging"].wait(60), "".join(seen)
            agent._proc.send_signal(signal.SIGSTOP)  # answers stop after some came
            # Silent until the worker says it noticed (longer than the timeout with pings going out).
            assert found[SILENT].wait(60) and SILENT in "".join(seen), "".join(seen)
            agent._proc.send_signal(signal.SIGCONT)
            runner.wait(60)
        finally:
            agent._proc.send_signal(signal.SIGCONT)
            if runner.poll() is None:
                runner.kill()
        reader.join(5)
    assert runner.returncode == 0, "".join(seen)
    warnings = json.loads(out.read_text())["metadata"]["warnings"]
    silent = [w for w in warnings if SILENT in w]
    assert len(silent) == 1, warnings
    assert math.isfinite(float(silent[0].split(" for ")[1].split(" s ")[0]))
