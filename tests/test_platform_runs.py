"""The runner with the real Daily and LiveKit SDKs in its workers, where no cloud is needed.

An agent stand-in hands out credentials for a platform server that refuses
connections on 127.0.0.1: the real SDK must fail the join, the runner must
say so in one line of its own, keep the (empty) result, and never print the
token it was given.
"""

from __future__ import annotations

import json
import socket

from livekit import api

from tests.agent_stub import StubAgent

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
    assert metadata["room_url"] == room
    assert not [w for w in metadata["warnings"] if "Daily" in w]  # the failed join is not repeated as warnings
