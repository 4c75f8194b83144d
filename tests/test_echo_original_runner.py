"""The echo answers the original voice-rtc-bench runner's ping (no ``seq``) as the original echo agent did.

The original runner pings ``{"type": "ping", "timestamp": perf_counter() * 1000}``
and computes client_to_server = server_receive_time − timestamp and
server_to_client = its receive time − server_send_time, all on ``perf_counter``
milliseconds; its pydantic ``PongMessage`` needs exactly the four fields below.
"""

from __future__ import annotations

import asyncio
import json
import time

from agent.echo import Echo
from ipc.protocol import PONG_DECODER, encode_ping
from tests.fake_daily import FakeDaily
from transports.daily import DailyEcho

ORIGINAL_PONG_KEYS = {"type", "client_timestamp", "server_receive_time", "server_send_time", "message_count"}


def original_ping() -> tuple[bytes, float]:
    timestamp = time.perf_counter() * 1000
    return json.dumps({"type": "ping", "timestamp": timestamp}).encode(), timestamp


def test_a_ping_without_seq_gets_the_original_pong_on_the_perf_counter_clock() -> None:
    echo = Echo()
    for count in (1, 2, 3):
        ping, sent_ms = original_ping()
        before_ms = time.perf_counter() * 1000
        reply = echo(ping, time.time_ns())
        after_ms = time.perf_counter() * 1000
        assert reply is not None
        pong = json.loads(reply)
        assert set(pong) == ORIGINAL_PONG_KEYS and pong["type"] == "pong"
        assert pong["client_timestamp"] == sent_ms  # the original matches its pending ping by this exact float
        assert pong["message_count"] == count
        # Both instants on the runner's clock: the original's one-way figures come out small and positive.
        slack_ms = 1.0  # the wall-to-monotonic anchor is read once, to about a microsecond
        assert before_ms - slack_ms <= pong["server_receive_time"] <= pong["server_send_time"] <= after_ms
        assert 0 <= pong["server_receive_time"] - pong["client_timestamp"] < 1000
    assert echo.malformed == 0


def test_our_pings_still_get_nanosecond_agent_instants_and_their_seq() -> None:
    echo = Echo()
    t2 = time.time_ns()
    pong = PONG_DECODER.decode(echo(encode_ping(9, 12.5, "run"), t2))
    assert pong.seq == 9 and pong.client_timestamp == 12.5 and pong.t2_ns == t2 <= pong.t3_ns
    assert pong.server_receive_time == t2 / 1e6  # wall-clock ms, as before


def test_the_daily_echo_answers_the_original_runners_app_message() -> None:
    """The original Daily runner sends its ping as a dict to everyone; the pong goes back to it alone."""
    sdk = FakeDaily()

    async def scenario() -> None:
        echo = DailyEcho("https://bench.daily.co/room-1", sdk=sdk)
        await echo.start(Echo())
        sent_ms = time.perf_counter() * 1000
        sdk.inject(sdk.clients[0], {"type": "ping", "timestamp": sent_ms}, sender="original-runner")
        for _ in range(100):
            if sdk.clients[0].sent:
                break
            await asyncio.sleep(0.01)
        ((pong, to),) = sdk.clients[0].sent
        assert to == "original-runner"
        assert set(pong) == ORIGINAL_PONG_KEYS and pong["client_timestamp"] == sent_ms
        assert 0 <= pong["server_receive_time"] - sent_ms < 1000
        await echo.close()

    try:
        asyncio.run(scenario())
    finally:
        sdk.shutdown()
