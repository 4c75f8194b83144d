"""A cap on the agent's open HTTP connections, which aiohttp does not have.

Each connection holds a file descriptor; once the process runs out, libuv
resets every new connection, /health's included. At the cap, admitting one
more closes the oldest connection that is not serving a request (idle, or
still trickling its headers in), so a flood of such clients cannot lock a
new client out and no request is cut off mid-answer.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

#: Descriptors kept for everything but HTTP connections: the listening socket, logs, pipes, imports.
RESERVED_FDS = 64
#: The listening socket's backlog. libuv accepts all that wait in one go, before an evicted
#: connection's descriptor is released, so that many must be free beyond the cap.
BACKLOG = 128
#: A session's own sockets (a UDP socket; ICE, DTLS and SCTP for webrtc; an SDK's connections).
FDS_PER_SESSION = 8
MIN_CONNECTIONS = 16


def connection_limit(nofile: int, max_sessions: int) -> int:
    """How many HTTP connections fit in ``nofile`` descriptors beside ``max_sessions`` sessions and a burst of accepts."""
    return max(MIN_CONNECTIONS, nofile - RESERVED_FDS - BACKLOG - FDS_PER_SESSION * max_sessions)


class ConnectionCap:
    """Wraps a set-up ``web.Server``'s connection and request callbacks (its only hooks; before it
    serves) to keep at most ``limit`` connections open."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.limit = limit
        self.evicted = 0
        self._open: dict[RequestHandler, None] = {}  # insertion order: oldest first
        self._serving: set[RequestHandler] = set()
        self._made, self._lost, self._handle = server.connection_made, server.connection_lost, server.request_handler
        server.connection_made = self._connection_made
        server.connection_lost = self._connection_lost
        server.request_handler = self._request

    def _connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._made(handler, transport)
        self._open[handler] = None
        while len(self._open) > self.limit:
            old = next((h for h in self._open if h not in self._serving), None)  # the few serving ones come first
            if old is None:
                return
            del self._open[old]
            old.force_close()
            self.evicted += 1

    async def _request(self, request: web.BaseRequest) -> web.StreamResponse:
        self._serving.add(request.protocol)
        try:
            return await self._handle(request)
        finally:
            self._serving.discard(request.protocol)

    def _connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self._open.pop(handler, None)
        self._lost(handler, exc)
