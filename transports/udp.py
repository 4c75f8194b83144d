"""Raw UDP echo: the baseline that shows what the engine itself adds to an RTT.

UDP has no handshake, so the echo answers whatever source address a datagram
names: it never sends more bytes than it received (no amplification), and its
credentials tell the runner to pad pings to ``MIN_PING_BYTES``, which holds
the largest pong the protocol allows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from transports.base import BytesOnTheWire, EchoHandler, Notify, Receiver, TransportError

log = logging.getLogger(__name__)

#: Pings at least this long get a pong no longer than themselves (the largest pong is 254 bytes).
MIN_PING_BYTES = 256


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t4 = time.perf_counter_ns()
        self._receiver(data, t4)


class UdpClient(BytesOnTheWire):
    """Runner side: one connected datagram socket to the agent's echo port."""

    def __init__(self, *, reliable: bool = True) -> None:
        # UDP has one mode; ``reliable`` is accepted for a uniform constructor.
        self._transport: asyncio.DatagramTransport | None = None
        self.waiting_for = "the udp socket"

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        try:
            host, port = str(credentials["host"]), int(credentials["port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TransportError(f"udp credentials need host and port, got {dict(credentials)!r}") from exc
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _ClientProtocol(receiver), remote_addr=(host, port)
        )

    def send(self, data: bytes) -> None:
        self._transport.sendto(data)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def versions(self) -> dict[str, str]:
        return {}


class _EchoProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: EchoHandler) -> None:
        self._handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.withheld = 0  # replies longer than their ping, not sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t2 = time.time_ns()
        reply = self._handler(data, t2)
        if reply is None:
            return
        if len(reply) <= len(data):
            self.transport.sendto(reply, addr)
            return
        if not self.withheld:
            log.warning("not answering pings shorter than their pong (%d < %d bytes)", len(data), len(reply))
        self.withheld += 1


class UdpEcho:
    """Agent side: a datagram socket on ``host`` that answers each ping where it came from."""

    def __init__(self, host: str = "127.0.0.1", *, reliable: bool = True) -> None:
        self._host = host
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _EchoProtocol(handler), local_addr=(self._host, 0)
        )
        host, port = self._transport.get_extra_info("sockname")[:2]
        return {"host": host, "port": port, "min_ping_bytes": MIN_PING_BYTES}

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
