"""Raw UDP echo: the baseline that shows what the engine itself adds to an RTT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from transports.base import BytesOnTheWire, EchoHandler, Notify, Receiver, TransportError


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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t2 = time.time_ns()
        reply = self._handler(data, t2)
        if reply is not None:
            self.transport.sendto(reply, addr)


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
        return {"host": host, "port": port}

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
