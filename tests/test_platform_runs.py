"""The runner with the real Daily and LiveKit SDKs in its workers, where no cloud is needed.

An agent stand-in hands out credentials for a platform server that refuses
connections on 127.0.0.1: the real SDK must fail the join, the runner must
say so in one line of its own, keep the (empty) result, and never print the
token it was given. And a real echo agent on the LiveKit loopback server
(``tests/livekit_loopback``): the server shutting down mid-run drops the
runner, which must end the run there and keep what it measured.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

from livekit import api

from agent.cli import READY_PREFIX
from agent.embedded import readline_within
from tests.agent_http import agent_env
from tests.agent_stub import StubAgent
from tests.conftest import CLI, ROOT, cli_env

SECRET_MARK = "tok3n-never-printed"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_livekit_join_refused_by_the_server_is_a_clear_error_and_no_token_is_printed(cli, tmp_path) -> None:
    token = (
        api.AccessToken("key", "s" * 32)
        .with_identity("benchmark-runner")
        .with_metadata(SECRET_MARK)
        .with_grants(api.VideoGrants(room_join=True, room="bench-x"))
        .to_jwt()
    )
    url = f"ws://127.0.0.1:{closed_port()}"
    with StubAgent() as agent:
        agent.connect_body = {
            "room_id": "r",
            "livekit": {"server_url": url, "room_name": "bench-x", "token": token, "echo_identity": "echo-agent"},
        }
        out = tmp_path / "out.json"
        proc = cli("--platform", "livekit", "--agent-url", agent.url, "--connect-timeout", "60", "--output", str(out))
    assert proc.returncode == 1, proc.stderr
    result = json.loads(out.read_text())
    error = result["metadata"]["error"]
    assert error.startswith(f"livekit: could not join LiveKit room bench-x at {url}: "), error
    assert result["metadata"]["partial"] is True and result["statistics"]["total_messages"] == 0
    assert result["metadata"]["sdk_versions"]["livekit"]
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert token not in text and SECRET_MARK not in text


def test_daily_join_that_cannot_reach_daily_is_a_clear_error(cli, tmp_path) -> None:
    """The real daily-python in the worker: its join error comes back in Daily's words, once."""
    room = f"http://127.0.0.1:{closed_port()}/bench-room"
    with StubAgent() as agent:
        agent.connect_body = {"room_id": "r", "daily": {"room_url": room, "expires_at": 0}}
        out = tmp_path / "out.json"
        proc = cli("--platform", "daily", "--agent-url", agent.url, "--connect-timeout", "60", "--output", str(out))
    assert proc.returncode == 1, proc.stderr
    metadata = json.loads(out.read_text())["metadata"]
    # The SDK gives up once its room lookup fails (about 20 s of DNS retries here); where name lookups
    # hang instead, the connect timeout ends the join, and the error says what it was waiting for.
    assert metadata["error"].startswith(
        (
            f"daily: could not join Daily room {room}: Daily says: ",
            f"daily: no connection within 60 s (waiting for the join of Daily room {room})",
        )
    ), metadata["error"]
    assert metadata["sdk_versions"]["daily-python"]
    assert not [w for w in metadata["warnings"] if "Daily" in w]  # the failed join is not repeated as warnings


@contextlib.contextmanager
def child(args: list[str], ready: str, **popen) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A serving child process and its first line, which must start with ``ready``; SIGTERM at the end."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **popen)
    try:
        line = readline_within(proc, 30).strip()
        assert line.startswith(ready), (args, line)
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=30)


def test_livekit_dropping_the_runner_mid_run_ends_the_run_and_keeps_its_samples(tmp_path) -> None:
    """The real SDK at both ends, on the loopback server. Once a pong is measured the server shuts down
    and tells every participant to leave (SERVER_SHUTDOWN). The worker must stop at the runner's
    ``disconnected`` event, not ping an empty room to the end of its schedule: exit 1 with that one
    error, the samples measured before it kept."""
    iterations, cooldown_ms = 3000, 10  # a 30 s schedule
    port = closed_port()
    env = agent_env(LIVEKIT_URL=f"ws://127.0.0.1:{port}", LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="s" * 32)
    loopback = [sys.executable, "-m", "tests.livekit_loopback", "--host", "127.0.0.1", "--port", str(port)]
    echo_agent = [sys.executable, "-m", "agent", "--platform", "livekit", "--host", "127.0.0.1", "--port", "0"]
    out = tmp_path / "out.json"
    with (
        child([*loopback, "--log-level", "WARNING"], "listening on ", env=env, cwd=ROOT) as (server, _),
        child(echo_agent, READY_PREFIX, env=env, cwd=tmp_path) as (_, ready),
    ):
        runner = subprocess.Popen(
            [*CLI, "--platform", "livekit", "--agent-url", ready.removeprefix(READY_PREFIX)]
            + ["--iterations", str(iterations), "--cooldown", str(cooldown_ms), "--output", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=tmp_path,
        )
        try:
            # On a pipe the progress bar prints its label alone, when the first ping is measured.
            before: list[str] = []
            for line in iter(runner.stderr.readline, ""):
                if line.strip() == "pinging":
                    break
                before.append(line.rstrip("\n"))
            else:
                raise AssertionError("the run ended before a ping was measured:\n" + "\n".join(before))
            server.send_signal(signal.SIGTERM)
            stdout, stderr = runner.communicate(timeout=120)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.communicate()
    errors = [
        line.removeprefix("benchmark-runner: error: ")
        for line in [*before, *stderr.splitlines()]
        if line.startswith("benchmark-runner: error: ")
    ]
    assert runner.returncode == 1 and len(errors) == 1, stderr
    [error] = errors
    assert re.fullmatch(
        r"livekit: LiveKit disconnected this runner from room bench-[0-9a-f]+ \(SERVER_SHUTDOWN\)", error
    )
    result = json.loads(out.read_text())
    meta, stats = result["metadata"], result["statistics"]
    assert meta["partial"] is True and meta["error"] == error and "PARTIAL" in stdout
    assert not [w for w in meta["warnings"] if "disconnected this runner" in w]  # said once, as the error
    measured = stats["successful_messages"]
    assert measured >= 1 and len(result["measurements"]) == measured
    assert all(m["round_trip_time"] > 0 for m in result["measurements"])
    # The worker said Done (a crashed worker reports no pings_sent) after stopping at the drop, a small
    # part of the way through the schedule. Without the stop every ping would go out into the dead room
    # and be counted lost after its timeout, 30 s and more from the start.
    assert meta["pings_sent"] is not None and measured <= meta["pings_sent"]
    assert 2 * meta["pings_sent"] < iterations and 2 * stats["total_messages"] < iterations
    assert 2 * meta["duration_ms"] < iterations * cooldown_ms
