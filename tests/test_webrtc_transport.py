"""WebRTC transport over real loopback sockets: agent offers, runner answers over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from transports.base import TransportError
from transports.sdp import candidate_addresses
from transports.webrtc import WebRTCClient, WebRTCEcho

TIMEOUT = 10.0
PREFIX = b"pong:"


def _ignore(kind: str, detail: str) -> None:
    pass


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


@asynccontextmanager
async def answer_server(handle: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A one-route aiohttp server on 127.0.0.1, port 0; yields its POST /answer URL."""
    app = web.Application()
    app.router.add_post("/answer", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/answer"
    finally:
        await runner.cleanup()


async def echo_roundtrips(reliable: bool, count: int) -> dict[str, Any]:
    """Connect a client to an echo agent, ping ``count`` times, return what was seen."""
    echo = WebRTCEcho("127.0.0.1", reliable=reliable)
    creds = await echo.start(lambda data, t2: PREFIX + data)
    answers: list[dict[str, Any]] = []

    async def on_answer(request: web.Request) -> web.Response:
        body = await request.json()
        answers.append(body)
        await echo.accept_answer(body["sdp"])
        return web.json_response({"ok": True})

    client = WebRTCClient(reliable=reliable)
    replies: list[tuple[bytes, int]] = []
    all_back = asyncio.Event()

    def receiver(data: bytes, t4: int) -> None:
        replies.append((data, t4))
        if len(replies) == count:
            all_back.set()

    async with answer_server(on_answer) as url:
        await asyncio.wait_for(client.connect({**creds, "answer_url": url, "room_id": "r1"}, receiver, _ignore), 5)
        sent: list[int] = []
        for i in range(count):
            sent.append(time.perf_counter_ns())
            client.send(b"ping %d" % i)
            await asyncio.sleep(0.002)
        await asyncio.wait_for(all_back.wait(), 5)
    await client.close()
    await echo.close()
    return {"creds": creds, "answers": answers, "replies": replies, "sent": sent}


def test_reliable_echo_in_order_on_loopback() -> None:
    seen = run(echo_roundtrips(reliable=True, count=50))
    assert seen["creds"]["reliable"] is True and seen["creds"]["offer"]["type"] == "offer"
    offer_addrs = [address for address, _ in candidate_addresses(seen["creds"]["offer"]["sdp"])]
    answer_addrs = [address for address, _ in candidate_addresses(seen["answers"][0]["sdp"])]
    assert offer_addrs and set(offer_addrs) == {"127.0.0.1"}
    assert answer_addrs and set(answer_addrs) == {"127.0.0.1"}
    assert seen["answers"][0]["room_id"] == "r1" and seen["answers"][0]["type"] == "answer"

    replies = seen["replies"]
    assert [data for data, _ in replies] == [PREFIX + b"ping %d" % i for i in range(50)]
    t4s = [t4 for _, t4 in replies]
    assert all(a < b for a, b in zip(t4s, t4s[1:]))
    rtts = [t4 - t1 for t1, t4 in zip(seen["sent"], t4s)]
    assert all(0 < rtt < 1_000_000_000 for rtt in rtts)


def test_unreliable_mode_connects_and_echoes() -> None:
    seen = run(echo_roundtrips(reliable=False, count=20))
    assert seen["creds"]["reliable"] is False
    # Unordered on loopback: expect every reply, not necessarily in order.
    assert sorted(data for data, _ in seen["replies"]) == sorted(PREFIX + b"ping %d" % i for i in range(20))


def test_close_twice_is_safe() -> None:
    async def scenario() -> None:
        client = WebRTCClient()
        await client.close()
        echo = WebRTCEcho()
        await echo.start(lambda data, t2: data)
        await echo.close()
        await echo.close()
        await client.close()

    run(scenario())


def test_peer_loss_is_a_warning_and_close_after_it_is_safe() -> None:
    async def scenario() -> list[tuple[str, str]]:
        echo = WebRTCEcho()
        creds = await echo.start(lambda data, t2: data)

        async def on_answer(request: web.Request) -> web.Response:
            await echo.accept_answer((await request.json())["sdp"])
            return web.json_response({})

        heard: list[tuple[str, str]] = []
        lost = asyncio.Event()

        def notify(kind: str, detail: str) -> None:
            heard.append((kind, detail))
            lost.set()

        client = WebRTCClient()
        async with answer_server(on_answer) as url:
            creds = {**creds, "answer_url": url, "room_id": "r"}
            await asyncio.wait_for(client.connect(creds, lambda d, t: None, notify), 5)
        assert heard == []
        await echo.close()  # the peer goes away mid-run: the user hears it, sends are dropped, nothing raises
        await asyncio.wait_for(lost.wait(), 30)
        client.send(b"peer gone")
        await client.close()  # our own close adds no second warning
        client.send(b"after close")
        await client.close()
        await echo.close()
        return heard

    heard = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert len(heard) == 1
    kind, detail = heard[0]
    assert kind == "warning" and detail.startswith("the webrtc peer connection ") and "later pings are lost" in detail


def test_answer_url_error_raises_transport_error() -> None:
    async def scenario() -> None:
        echo = WebRTCEcho()
        creds = await echo.start(lambda data, t2: data)

        async def fail(request: web.Request) -> web.Response:
            return web.Response(status=500, text="boom")

        client = WebRTCClient()
        try:
            async with answer_server(fail) as url:
                with pytest.raises(TransportError, match="HTTP 500"):
                    await client.connect({**creds, "answer_url": url, "room_id": "r"}, lambda d, t: None, _ignore)
        finally:
            await client.close()
            await echo.close()

    run(scenario())


def test_missing_credentials_raise_transport_error() -> None:
    with pytest.raises(TransportError, match="answer_url"):
        run(WebRTCClient().connect({"offer": {"sdp": "v=0"}}, lambda d, t: None, _ignore))


def test_versions() -> None:
    assert set(WebRTCClient().versions()) == {"aiortc", "aioice"}
