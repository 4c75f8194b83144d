"""The echo agent's HTTP control plane and echo, as a real process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

import transports
from ipc.clocks.anchors import boot_id
from ipc.protocol import PONG_DECODER, encode_ping_sized
from tests.conftest import call


def test_health_reports_platforms_and_boot_id(agent_url):
    status, body = call("GET", f"{agent_url}/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["platforms"] == ["webrtc", "udp"]
    assert body["boot_id"] == boot_id() != ""


def test_udp_session_echoes_with_agent_instants(agent_url):
    status, body = call("POST", f"{agent_url}/connect", json={"platform": "udp", "run_id": "run"})
    assert status == 200
    room_id, creds = body["room_id"], body["udp"]
    assert creds["host"] == "127.0.0.1" and creds["expires_at"] > time.time() + 500
    size = creds["min_ping_bytes"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(encode_ping_sized(7, 1234.5, "run", size), (creds["host"], creds["port"]))
        s.sendto(b"not a ping", (creds["host"], creds["port"]))
        s.sendto(encode_ping_sized(8, 1235.5, "run", size), (creds["host"], creds["port"]))
        before = time.time_ns()
        pongs = [PONG_DECODER.decode(s.recv(65536)) for _ in range(2)]
    assert [p.seq for p in pongs] == [7, 8]
    assert [p.message_count for p in pongs] == [1, 2]
    assert pongs[0].client_timestamp == 1234.5
    for p in pongs:
        assert p.t2_ns <= p.t3_ns <= before + 5_000_000_000
        assert p.server_receive_time == pytest.approx(p.t2_ns / 1e6)
    status, body = call("POST", f"{agent_url}/disconnect", json={"room_id": room_id})
    assert status == 200 and body["messages_echoed"] == 2
    status, _ = call("POST", f"{agent_url}/disconnect", json={"room_id": room_id})
    assert status == 404


def test_webrtc_session_offers_loopback_candidates(agent_url):
    status, body = call("POST", f"{agent_url}/connect", json={"platform": "webrtc", "reliable": False})
    assert status == 200
    creds = body["webrtc"]
    candidates = [line for line in creds["offer"]["sdp"].splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" 127.0.0.1 " in c for c in candidates)
    assert creds["reliable"] is False
    assert creds["answer_url"].endswith(f"/sessions/{body['room_id']}/answer")
    assert call("POST", f"{agent_url}/disconnect", json={"room_id": body["room_id"]})[0] == 200


@pytest.mark.parametrize(
    ("path", "kw", "expected"),
    [
        ("/connect", {"json": {"platform": "daily"}}, 400),
        ("/connect", {"json": {"platform": "udp", "reliable": "yes"}}, 400),
        ("/connect", {"data": b"{not json"}, 400),
        ("/connect", {"json": [1]}, 400),
        ("/disconnect", {"json": {"room_id": "nope"}}, 404),
        ("/sessions/nope/answer", {"json": {"sdp": "v=0"}}, 404),
    ],
)
def test_bad_requests_are_refused(agent_url, path, kw, expected):
    assert call("POST", f"{agent_url}{path}", **kw)[0] == expected


def test_agent_on_every_interface_names_the_address_the_runner_used(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENT_TOKEN": "t0ken"},
        cwd=tmp_path,
    )
    try:
        port = proc.stdout.readline().strip().rsplit(":", 1)[1]
        status, body = call(
            "POST",
            f"http://127.0.0.1:{port}/connect",
            json={"platform": "udp", "run_id": "r"},
            headers={"Authorization": "Bearer t0ken"},
        )
        assert status == 200 and body["udp"]["host"] == "127.0.0.1"
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_platform_has_rooms_registered_by_the_agent():
    """The platform descriptor names no agent class: the agent's own registry must cover every platform."""
    from agent.cli import ROOMS
    assert set(ROOMS) == set(transports.PLATFORMS)
    for path in ROOMS.values():
        rooms = transports.load(path)
        assert all(callable(getattr(rooms, name, None)) for name in ("for_platform", "start", "open", "stop")), path
