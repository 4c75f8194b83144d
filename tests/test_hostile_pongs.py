"""Pongs no agent should send: numbers beyond int64 or below zero, invalid UTF-8, deep nesting.

Each is counted as malformed and its ping as lost; the run goes on, the
parent writes its JSON and every honest pong is a sample.
"""

from __future__ import annotations

import json

import pytest

from ipc.protocol import PING_DECODER
from tests.agent_stub import StubAgent, modern
from tests.test_session import T2_BASE, Scripted, counters

GOOD = {"type": "pong", "client_timestamp": 1.0, "server_receive_time": 2.0, "server_send_time": 3.0}

#: One hostile pong per kind, as raw bytes (the stub sends them as they are).
HOSTILE = {
    "t3 at 2**64-1": json.dumps({**GOOD, "seq": 0, "t2_ns": T2_BASE, "t3_ns": 2**64 - 1}).encode(),
    "t2 below zero": json.dumps({**GOOD, "seq": 0, "t2_ns": -1, "t3_ns": T2_BASE}).encode(),
    "processing beyond int64": json.dumps({**GOOD, "seq": 0, "t2_ns": 0, "t3_ns": 2**63 + 5}).encode(),
    "legacy send time 1.7e308": json.dumps({**GOOD, "server_send_time": 1.7e308}).encode(),
    "legacy send time -1.7e308": json.dumps({**GOOD, "server_send_time": -1.7e308}).encode(),
    "type with invalid UTF-8": b'{"type":"\xff\xfe","seq":0,"client_timestamp":1,"server_receive_time":2,"server_send_time":3}',
    "deeply nested": b'{"type":"pong","x":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
}


def _aimed(template: bytes, seq: int, timestamp: float) -> bytes:
    """The hostile pong aimed at a real ping: its seq or (legacy) its client timestamp."""
    if template.startswith(b'{"type": "pong"'):
        body = json.loads(template)
        if "seq" in body:
            body["seq"] = seq
        else:
            body["client_timestamp"] = timestamp
        return json.dumps(body).encode()
    return template


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_session_counts_each_hostile_pong_as_malformed(kind):
    h = Scripted(iterations=2)
    h.send(2)
    h.receive(_aimed(HOSTILE[kind], 1, 0.0), h.t1[1] + 1_000_000)
    h.pong(2, rtt_ns=1_000_000)
    assert h.session.counters == counters(malformed=1)
    assert h.samples()["seq"] == [2]


def test_run_against_a_hostile_agent_keeps_every_honest_pong(cli, tmp_path):
    kinds = list(HOSTILE)

    def reply(data: bytes, t2: int) -> list[bytes]:
        ping = PING_DECODER.decode(data)
        k = ping.seq - 1  # no warmup: seq 1.. are measured
        if k < len(kinds):
            return [_aimed(HOSTILE[kinds[k]], ping.seq, ping.timestamp)]
        return modern(data, t2)

    out = tmp_path / "r.json"
    with StubAgent(reply=reply) as agent:
        proc = cli(
            "--platform", "udp", "--agent-url", agent.url, "--iterations", "40", "--warmup", "0",
            "--cooldown", "2", "--timeout", "300", "--output", str(out),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(out.read_text())
    stats = result["statistics"]
    assert stats["malformed_messages"] == len(kinds)
    assert stats["failed_messages"] == len(kinds)
    assert stats["successful_messages"] == 40 - len(kinds)
    assert [m["message_number"] for m in result["measurements"]] == list(range(len(kinds) + 1, 41))
