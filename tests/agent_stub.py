"""A scripted echo agent for the runner's tests: real HTTP and a real UDP socket on 127.0.0.1.

Its /health, /connect and echo behave as a test tells them to (legacy pongs,
malformed replies, non-JSON health, hanging), which the real agent never does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from ipc.protocol import ENCODER, PING_DECODER, Pong
from tests.threaded_app import ThreadedApp

Reply = Callable[[bytes, int], list[bytes]]


def modern(data: bytes, t2: int) -> list[bytes]:
    ping = PING_DECODER.decode(data)
    t3 = time.time_ns()
    return [
        ENCODER.encode(
            Pong(
                seq=ping.seq,
                client_timestamp=ping.timestamp,
                server_receive_time=t2 / 1e6,
                server_send_time=t3 / 1e6,
                t2_ns=t2,
                t3_ns=t3,
            )
        )
    ]


#: The processing time the legacy stub claims, in ms; it really holds each pong that long.
LEGACY_PROCESSING_MS = 0.25


def legacy(data: bytes, t2: int) -> list[bytes]:
    """The original voice-rtc-bench agent: no seq, no ns stamps; its stated processing time is real, so the
    runner's plausibility check (processing within the pong's own RTT) keeps it."""
    ping = PING_DECODER.decode(data)
    release = t2 + LEGACY_PROCESSING_MS * 1e6
    while time.time_ns() < release:
        pass  # a sleep this short would round up to the loop's or the kernel's tick
    return [
        ENCODER.encode(
            Pong(client_timestamp=ping.timestamp, server_receive_time=t2 / 1e6, server_send_time=t2 / 1e6 + LEGACY_PROCESSING_MS)
        )
    ]


def noisy(data: bytes, t2: int) -> list[bytes]:
    """Every pong preceded by garbage, every third one sent twice."""
    pong = modern(data, t2)
    seq = PING_DECODER.decode(data).seq
    return [b"\xff not json", *pong, *(pong if seq % 3 == 0 else [])]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        t2 = time.time_ns()
        for out in self.reply(data, t2):
            self.transport.sendto(out, addr)


class StubAgent(ThreadedApp):
    """``with StubAgent() as agent:`` serves on 127.0.0.1; ``agent.url`` is its base URL."""

    def __init__(self, reply: Reply = modern, health: web.Response | None = None, connect_delay_s: float = 0.0) -> None:
        super().__init__()
        self.reply = reply
        self.health_response = health
        self.connect_delay_s = connect_delay_s
        self.connect_body: dict | None = None  # what /connect answers instead of UDP credentials
        self.disconnected: list[str] = []  # room ids the runner released, in order
        self.answers = 0  # webrtc answers posted: a worker is joining

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def udp_port(self) -> int:
        return self._udp.get_extra_info("sockname")[1]

    def make_app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/health", self._health),
                web.post("/connect", self._connect),
                web.post("/disconnect", self._disconnect),
                web.post("/answer", self._answer),
            ]
        )
        return app

    async def start(self) -> None:
        self._udp, _ = await self.loop.create_datagram_endpoint(lambda: _Udp(self.reply), local_addr=("127.0.0.1", 0))
        await super().start()

    async def stop(self) -> None:
        self._udp.close()
        await super().stop()

    async def _health(self, request):
        return self.health_response or web.json_response({"status": "healthy"})

    async def _connect(self, request):
        await asyncio.sleep(self.connect_delay_s)
        if self.connect_body is not None:
            return web.json_response(self.connect_body)
        return web.json_response({"room_id": "stub", "udp": {"host": "127.0.0.1", "port": self.udp_port}})

    async def _disconnect(self, request):
        self.disconnected.append((await request.json())["room_id"])
        return await self._ok(request)

    async def _answer(self, request):
        self.answers += 1
        return await self._ok(request)

    async def _ok(self, request):
        return web.json_response({"status": "ok"})
