"""Bad requests and bad pings never become a 500 or a dead session; expiry races /disconnect safely."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from agent.app import EchoAgent
from agent.echo import Echo
from agent.rooms import LocalRooms, Room
from ipc.protocol import PONG_DECODER, encode_ping
from tests.agent_http import call, run, serving
from tests.test_agent_public import request, webrtc_agent
from transports.webrtc import WebRTCClient

NESTED = b'{"platform": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    with webrtc_agent(tmp_path_factory.mktemp("agent")) as a:
        yield a
    assert "Traceback" not in a.output, a.output


def _answer_url(agent) -> str:
    status, body = run(request("POST", f"{agent.url}/connect", json={"platform": "webrtc"}))
    assert status == 200
    return body["webrtc"]["answer_url"]


@pytest.mark.parametrize(
    ("path", "kw"),
    [
        ("/connect", {"data": NESTED}),
        ("/connect", {"data": b'{"platform": "udp", "run_id": "\xff"}'}),
        ("/connect", {"json": {"platform": ["udp"]}}),
        ("/disconnect", {"data": NESTED}),
        ("/disconnect", {"json": {"room_id": ["a", "b"]}}),
        ("/disconnect", {"json": {"room_id": {"a": 1}}}),
        ("/disconnect", {"data": b""}),
        ("answer", {"json": {"sdp": "garbage"}}),
        ("answer", {"json": {"sdp": "v=0\r\no=- 1 1 IN IP4 0\r\nm=application 9 UDP/DTLS/SCTP x\r\n"}}),
        ("answer", {"json": {"sdp": ["v=0"]}}),
        ("answer", {"json": {"sdp": "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=setup:active\r\n"}}),
        ("answer", {"data": NESTED}),
    ],
)
def test_bad_bodies_are_one_line_4xx(agent, path, kw):
    url = _answer_url(agent) if path == "answer" else f"{agent.url}{path}"
    status, text = run(request("POST", url, **kw))
    assert 400 <= status < 500, (status, text)
    assert isinstance(text, str) and "\n" not in text.strip() and len(text) < 400, text


async def webrtc_exchange(agent, before_ping) -> tuple[object, list[int]]:
    """A real WebRTC session with the agent (run "r"): ``before_ping(client, credentials)`` runs once the
    channel is open, then one good ping goes out; returns what ``before_ping`` returned and the pongs' seqs."""
    status, body = await request("POST", f"{agent.url}/connect", json={"platform": "webrtc", "run_id": "r"})
    assert status == 200
    client, pongs, got = WebRTCClient(), [], asyncio.Event()

    def receiver(data, t4):
        pongs.append(PONG_DECODER.decode(WebRTCClient.from_wire(data)).seq)
        got.set()

    await asyncio.wait_for(client.connect(body["webrtc"], receiver, lambda kind, detail: None), 10)
    try:
        done = await before_ping(client, body["webrtc"])
        client.send(encode_ping(2, 1234.5, "r"))
        await asyncio.wait_for(got.wait(), 5)
    finally:
        await client.close()
    return done, pongs


def test_a_second_answer_is_refused_and_the_session_still_echoes(agent):
    """A valid answer twice: aiortc refuses the second (InvalidStateError), which is the runner's mistake, a 4xx."""

    async def answer_again(client, credentials):
        return (await request("POST", credentials["answer_url"], json={"sdp": client._pc.localDescription.sdp}))[0]

    assert run(webrtc_exchange(agent, answer_again)) == (400, [2])


def test_an_oversized_body_is_refused(tmp_path):
    with webrtc_agent(tmp_path) as agent:
        status, _ = run(request("POST", f"{agent.url}/connect", data=b" " * (1024 * 1024)))
    assert status == 413


class GatedRooms(LocalRooms):
    """udp rooms whose first cleanup waits for ``gate``: the sweep stays inside one expiry while the test acts."""

    def __init__(self) -> None:
        super().__init__("udp", "127.0.0.1")
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def open(self, handler, reliable, expires_at, *, announce=False) -> Room:
        room = await super().open(handler, reliable, expires_at, announce=announce)

        async def cleanup() -> None:
            if not self.waiting.is_set():
                self.waiting.set()
                await self.gate.wait()

        return Room(room.endpoint, room.credentials, cleanup)


def test_disconnect_during_the_expiry_sweep_leaves_the_sweeper_running():
    async def scenario() -> None:
        rooms = GatedRooms()
        agent = EchoAgent({"udp": rooms}, session_ttl_s=0.2, sweep_interval_s=0.05)
        async with serving(agent) as url, aiohttp.ClientSession() as http:

            async def connect() -> str:
                status, body = await call(http, "POST", f"{url}/connect", json={"platform": "udp", "run_id": "r"})
                assert status == 200
                return body["room_id"]

            first, second = await connect(), await connect()
            await rooms.waiting.wait()  # the sweep is closing one of them, the other is next in its list
            other = second if first not in agent.sessions else first
            status, _ = await call(http, "POST", f"{url}/disconnect", json={"room_id": other})
            assert status == 200
            rooms.gate.set()
            third = await connect()  # expires only if the sweeper survived the race
            for _ in range(100):
                if not agent.sessions:
                    break
                await asyncio.sleep(0.05)
            assert third not in agent.sessions and not agent.sessions

    run(scenario())


def test_a_ping_with_invalid_utf8_leaves_the_webrtc_echo_session_answering(agent):
    async def bad_ping(client, credentials):
        client.send(b'{"type":"\xff\xfe","seq":1,"timestamp":1,"run_id":"r"}')

    assert run(webrtc_exchange(agent, bad_ping)) == (None, [2])


def test_echo_counts_what_it_does_not_answer():
    echo = Echo(run_id="r")
    assert echo(b'{"type":"ping","seq":1,"timestamp":1,"run_id":"\xff"}', 1) is None
    assert echo(encode_ping(1, 1.0, "other"), 1) is None
    assert PONG_DECODER.decode(echo(encode_ping(1, 1.0, "r"), 5)).t2_ns == 5
    assert (echo.malformed, echo.foreign, echo.message_count) == (1, 1, 1)
