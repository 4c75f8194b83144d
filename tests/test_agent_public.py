"""The echo agent in public: a token off loopback, capped sessions, idle clients closed, no reflection.

Every test runs the real ``echo-agent`` (or its app) on 127.0.0.1 and floods
it with real connections, each flood bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from ipc.protocol import PONG_DECODER, encode_ping_sized
from tests.agent_http import AgentProcess, agent_env, call, run
from transports.udp import MIN_PING_BYTES

TOKEN = "s3cret-agent-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def webrtc_agent(cwd, *flags: str, env: dict[str, str] | None = None, nofile: int | None = None) -> AgentProcess:
    """``echo-agent --platform webrtc`` (it serves udp too) with ``flags``, ``env`` on top of a clean environment."""
    return AgentProcess("webrtc", agent_env(**(env or {})), cwd, flags=flags, nofile=nofile)


async def request(method: str, url: str, **kw) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http:
        return await call(http, method, url, **kw)


# -- a token off loopback ----------------------------------------------------------------------


def test_off_loopback_without_a_token_the_agent_refuses_to_start(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=30, env=agent_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "AGENT_TOKEN" in lines[0] and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_the_token_comes_from_dotenv_and_guards_all_but_health(tmp_path):
    (tmp_path / ".env").write_text(f"AGENT_TOKEN={TOKEN}\n")
    with webrtc_agent(tmp_path, "--host", "0.0.0.0") as agent:
        assert run(request("GET", f"{agent.url}/health"))[0] == 200
        body = {"platform": "udp", "run_id": "r"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}):
            status, text = run(request("POST", f"{agent.url}/connect", json=body, headers=headers))
            assert status == 401 and "AGENT_TOKEN" in text and TOKEN not in text
        status, answer = run(request("POST", f"{agent.url}/connect", json=body, headers=AUTH))
        assert status == 200
        assert run(request("POST", f"{agent.url}/disconnect", json={"room_id": answer["room_id"]}))[0] == 401
        assert run(request("POST", f"{agent.url}/disconnect", json={"room_id": answer["room_id"]}, headers=AUTH))[0] == 200
    assert TOKEN not in agent.output


@pytest.mark.parametrize("platform", ["udp", "webrtc"])
def test_the_runner_sends_its_token_from_dotenv(cli, tmp_path, platform):
    with webrtc_agent(tmp_path, env={"AGENT_TOKEN": TOKEN}) as agent:
        args = ("--platform", platform, "--agent-url", agent.url, "--iterations", "20", "--cooldown", "2")
        refused = cli(*args)
        assert refused.returncode == 2 and "HTTP 401" in refused.stderr and TOKEN not in refused.stderr
        (tmp_path / ".env").write_text(f"AGENT_TOKEN={TOKEN}\n")
        out = tmp_path / "r.json"
        proc = cli(*args, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["statistics"]["successful_messages"] == 20
    assert result["metadata"]["agent"].get("min_ping_bytes") == (MIN_PING_BYTES if platform == "udp" else None)
    assert TOKEN not in proc.stdout + proc.stderr + out.read_text()


# -- caps --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "env", "needle"),
    [
        (["--idle-timeout", "nan"], {}, "--idle-timeout"),
        (["--idle-timeout", "0"], {}, "--idle-timeout"),
        ([], {"ECHO_AGENT_MAX_SESSIONS": "0"}, "ECHO_AGENT_MAX_SESSIONS"),
    ],
)
def test_bad_caps_are_refused(tmp_path, flags, env, needle):
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--port", "0", *flags],
        capture_output=True, text=True, timeout=30, env=agent_env(**env), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_sessions_are_capped_even_when_asked_for_at_once(tmp_path):
    async def flood(url: str) -> list[int]:
        async with aiohttp.ClientSession() as http:
            calls = [call(http, "POST", f"{url}/connect", json={"platform": "udp", "run_id": f"r{i}"}) for i in range(20)]
            return [status for status, _ in await asyncio.gather(*calls)]

    (tmp_path / ".env").write_text("ECHO_AGENT_MAX_SESSIONS=3\n")  # .env stands in for the flag, as the environment does
    with webrtc_agent(tmp_path) as agent:
        statuses = run(flood(agent.url))
        assert sorted(statuses) == [200] * 3 + [429] * 17
        status, health = run(request("GET", f"{agent.url}/health"))
        assert status == 200 and health["sessions"] == 3


def test_idle_and_trickling_clients_are_closed_after_the_idle_timeout(tmp_path):
    with webrtc_agent(tmp_path, env={"ECHO_AGENT_IDLE_TIMEOUT_S": "1"}) as agent:
        port = int(agent.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as idle, socket.create_connection(("127.0.0.1", port)) as slow:
            started = time.monotonic()
            slow.settimeout(0.2)
            closed_after = None
            for line in (b"GET /health HTTP/1.1\r\n", *[b"X-Slow: %d\r\n" % i for i in range(25)]):
                try:
                    slow.sendall(line)  # one header line every 0.2 s (slowloris), never the blank line
                    if slow.recv(100) == b"":
                        closed_after = time.monotonic() - started
                        break
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    closed_after = time.monotonic() - started
                    break
            assert closed_after is not None and closed_after < 3, closed_after
            idle.settimeout(3)
            assert idle.recv(100) == b""


def test_a_connection_flood_past_the_fd_limit_leaves_health_answering(tmp_path):
    """Far more trickling connections than the agent has file descriptors, all held open: the
    oldest give way to new ones, so /health answers at once instead of being reset."""
    with webrtc_agent(tmp_path, nofile=400) as agent:
        port = int(agent.url.rsplit(":", 1)[1])
        sockets = []
        try:
            for _ in range(600):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
                sockets.append(s)
            for _ in range(5):
                started = time.monotonic()
                status, body = run(request("GET", f"{agent.url}/health"))
                assert status == 200 and body["status"] == "ok"
                assert time.monotonic() - started < 2
            sockets[0].settimeout(5)
            assert sockets[0].recv(100) == b""  # the oldest was closed for them
        finally:
            for s in sockets:
                s.close()


# -- no reflection -----------------------------------------------------------------------------


def test_udp_echo_answers_only_its_run_and_never_more_bytes_than_it_got(tmp_path):
    with webrtc_agent(tmp_path) as agent:
        assert run(request("POST", f"{agent.url}/connect", json={"platform": "udp"}))[0] == 400  # no run_id
        status, answer = run(request("POST", f"{agent.url}/connect", json={"platform": "udp", "run_id": "mine"}))
        assert status == 200
        creds = answer["udp"]
        size = creds["min_ping_bytes"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            address = (creds["host"], creds["port"])
            for ping in (
                encode_ping_sized(1, 1234.5, "theirs", size),  # another run's id
                encode_ping_sized(2, 1234.5, "mine", 0),  # a bare 23-byte-class ping: the pong would be longer
                b'{"type":"\xff","seq":3,"timestamp":1}',  # invalid UTF-8
            ):
                s.sendto(ping, address)
                with pytest.raises(TimeoutError):
                    s.recv(65536)
            good = encode_ping_sized(4, 1764478800123.456, "mine", size)
            s.sendto(good, address)
            pong = s.recv(65536)
        assert PONG_DECODER.decode(pong).seq == 4 and len(pong) <= len(good)
    assert "Traceback" not in agent.output
