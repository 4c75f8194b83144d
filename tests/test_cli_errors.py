"""Bad input and misbehaving agents: one line, exit code 2, no traceback, no file left behind."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Callable

import pytest
from aiohttp import web

from tests.agent_stub import StubAgent, legacy, noisy
from tests.conftest import CLI, cli_env
from tests.processes import Watched
from transports.webrtc import WebRTCEcho


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("benchmark-runner: error:")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--platform", "carrier-pigeon"], "unknown platform 'carrier-pigeon'"),
        ([], "--platform is required"),
        (["--platform", "udp", "--iterations", "0"], "--iterations"),
        (["--platform", "udp", "--iterations", "-3"], "--iterations"),
        (["--platform", "udp", "--iterations", "ten"], "ten"),
        (["--platform", "udp", "--timeout", "-1"], "--timeout"),
        (["--platform", "udp", "--cooldown", "-5"], "--cooldown"),
        (["--platform", "udp", "--agent-url", "ftp://example"], "http://"),
    ],
)
def test_bad_flags(cli, args, needle):
    assert_one_line_error(cli(*args), needle)


def test_bad_environment_default_is_reported(cli):
    assert_one_line_error(cli("--platform", "udp", env={"ITERATIONS": "0"}), "--iterations")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_agent_refusing_connections(cli):
    url = f"http://127.0.0.1:{_free_port()}"
    assert_one_line_error(cli("--platform", "udp", "--agent-url", url), url, "unreachable")


def test_agent_that_never_answers(cli):
    with socket.socket() as silent:  # listens, never accepts: the HTTP request hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = cli("--platform", "udp", "--agent-url", url, "--connect-timeout", "1")
    assert_one_line_error(proc, "did not answer within 1 s")


@pytest.mark.parametrize(
    ("health", "needle"),
    [
        (web.Response(text="<html>hello</html>"), "not JSON"),
        (web.json_response({"unexpected": True}), "unexpected shape"),
        (web.json_response([1, 2]), "unexpected shape"),
        (web.Response(status=503, text="down"), "HTTP 503"),
    ],
)
def test_agent_answering_nonsense(cli, health, needle):
    with StubAgent(health=health) as agent:
        assert_one_line_error(cli("--platform", "udp", "--agent-url", agent.url), needle)


@pytest.mark.parametrize("make_path", [lambda d: d / "missing-dir" / "r.json", lambda d: d])
def test_unwritable_output_fails_before_running(cli, tmp_path, make_path):
    path = make_path(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(cli("--platform", "udp", "--output", str(path)), "--output")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_malformed_and_duplicate_pongs_are_counted_not_fatal(cli, tmp_path):
    out = tmp_path / "r.json"
    with StubAgent(reply=noisy) as agent:
        proc = cli(
            "--platform",
            "udp",
            "--agent-url",
            agent.url,
            "--iterations",
            "30",
            "--warmup",
            "0",
            "--cooldown",
            "2",
            "--output",
            str(out),
            "--stream",
            str(tmp_path / "s.ndjson"),
        )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(out.read_text())["statistics"]
    assert stats["successful_messages"] == 30 and stats["failed_messages"] == 0
    assert stats["malformed_messages"] == 30
    assert stats["duplicate_messages"] == 10  # seq 3, 6, ..., 30
    lines = [json.loads(line) for line in (tmp_path / "s.ndjson").read_text().splitlines()]
    assert [x["message_number"] for x in lines if x["type"] == "duplicate"] == list(range(3, 31, 3))


def test_legacy_agent_matches_on_client_timestamp(cli, tmp_path):
    out = tmp_path / "r.json"
    with StubAgent(reply=legacy) as agent:
        # The original agent's /connect names the platforms it does not serve, as null.
        agent.connect_body = {"room_id": "stub", "daily": None, "udp": {"host": "127.0.0.1", "port": agent.udp_port}}
        proc = cli(
            "--platform", "udp", "--agent-url", agent.url, "--iterations", "20", "--cooldown", "2", "--output", str(out)
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["statistics"]["successful_messages"] == 20
    assert result["metadata"]["legacy_agent"] is True and result["metadata"]["one_way_available"] is False
    for m in result["measurements"]:
        assert m["client_to_server"] is None and m["server_to_client"] is None
        assert m["server_processing"] == pytest.approx(0.25, abs=1e-3)
        assert m["network_rtt"] == pytest.approx(m["round_trip_time"] - 0.25, abs=1e-3)


def interrupted_run(
    tmp_path, *args: str, after: str | Callable[[], bool], within_s: float
) -> tuple[str, str, dict]:
    """Run the CLI, send Ctrl-C once ``after`` shows on stderr (or holds); returns stdout, stderr and the result."""
    out = tmp_path / "r.json"
    run = Watched([*CLI, *args, "--output", str(out)], cwd=tmp_path, env=cli_env())
    if isinstance(after, str):
        run.wait_for(after, within_s=60)
    else:
        deadline = time.monotonic() + 60
        while not after():
            assert time.monotonic() < deadline, "".join(run.stderr)
            time.sleep(0.05)
    run.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish(within_s)
    assert code == 130, stderr
    return stdout, stderr, json.loads(out.read_text())


def test_ctrl_c_keeps_partial_results(tmp_path):
    # 5000 pings at 2 ms take 10 s: Ctrl-C once pinging lands mid-run
    stdout, _, result = interrupted_run(
        tmp_path, "--platform", "udp", "--iterations", "5000", "--cooldown", "2", after="pinging", within_s=60
    )
    assert result["metadata"]["partial"] is True
    measured = result["statistics"]["successful_messages"]
    assert 0 < measured < 5000
    assert len(result["measurements"]) == measured
    assert "PARTIAL" in stdout


def _dead_webrtc_offer() -> dict:
    """A real aiortc offer whose peer is already gone: ICE can never complete, so a join hangs."""

    async def make():
        echo = WebRTCEcho()
        creds = await echo.start(lambda data, t2: None)
        await echo.close()
        return creds

    return asyncio.run(make())


def test_ctrl_c_while_joining_stops_without_waiting_for_the_join(tmp_path):
    with StubAgent() as agent:
        agent.connect_body = {
            "room_id": "dead",
            "webrtc": {**_dead_webrtc_offer(), "answer_url": f"{agent.url}/answer", "room_id": "dead"},
        }
        # within_s is far below the 300 s join timeout the worker would otherwise wait out
        _, _, result = interrupted_run(
            tmp_path,
            "--platform",
            "webrtc",
            "--agent-url",
            agent.url,
            "--connect-timeout",
            "300",
            after=lambda: agent.answers > 0,  # the worker is joining
            within_s=30,
        )
    assert result["metadata"]["partial"] is True
    assert result["statistics"]["total_messages"] == 0
    assert result["metadata"]["error"] is None  # stopped by the user, not failed
