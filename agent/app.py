"""The echo agent's HTTP control plane (aiohttp): GET /health, POST /connect, POST /disconnect.

/connect creates a session on the requested platform (a room, through that
platform's ``Rooms``), joins it as the echo participant and returns its
credentials in the original agent's shape (``room_id`` plus one object named
after the platform). Sessions end on /disconnect, when they expire, and when
the agent stops; each platform's credentials are checked before it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.echo import Echo
from agent.rooms import Room, Rooms
from engine import version
from engine.worker.clock import boot_id
from transports.base import TransportError

log = logging.getLogger(__name__)

SESSION_TTL_S = 600
_SWEEP_INTERVAL_S = 5.0


@dataclass
class _Session:
    platform: str
    room: Room
    echo: Echo
    expires_at: float


class EchoAgent:
    """State of one agent process: which platforms it serves and its live sessions."""

    def __init__(self, rooms: dict[str, Rooms]) -> None:
        self.rooms = rooms
        self.platforms = tuple(rooms)
        self.sessions: dict[str, _Session] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/health", self.health),
                web.post("/connect", self.connect),
                web.post("/disconnect", self.disconnect),
                web.post("/sessions/{room_id}/answer", self.answer),
            ]
        )
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, app: web.Application):
        for rooms in self.rooms.values():
            await rooms.start()  # a CredentialError here stops the agent before it listens
        sweeper = asyncio.create_task(self._sweep())
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        for room_id in list(self.sessions):
            await self._close(room_id)
        for rooms in self.rooms.values():
            await rooms.stop()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "platforms": list(self.platforms),
                "boot_id": boot_id(),
                "version": version(),
                "sessions": len(self.sessions),
            }
        )

    async def connect(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        platform = body.get("platform", self.platforms[0])
        if platform not in self.platforms:
            raise web.HTTPBadRequest(text=f"this agent serves {', '.join(self.platforms)}, not {platform!r}")
        reliable = body.get("reliable", True)
        if not isinstance(reliable, bool):
            raise web.HTTPBadRequest(text="'reliable' must be true or false")
        echo = Echo()
        expires_at = int(time.time()) + SESSION_TTL_S
        try:
            room = await self.rooms[platform].open(echo, reliable, expires_at)
        except TransportError as exc:
            log.warning("%s session not started: %s", platform, exc)
            raise web.HTTPBadGateway(text=f"{platform}: {exc}") from None
        credentials = room.credentials
        if credentials.get("host") in ("0.0.0.0", "::"):  # bound to every interface: name the one the runner used
            credentials["host"] = request.url.host
        room_id = secrets.token_hex(8)
        self.sessions[room_id] = _Session(platform, room, echo, expires_at)
        if hasattr(room.endpoint, "accept_answer"):
            credentials["answer_url"] = str(request.url.with_path(f"/sessions/{room_id}/answer").with_query(None))
        credentials.update(room_id=room_id, expires_at=expires_at)
        log.info("session %s (%s) started", room_id, platform)
        return web.json_response({"room_id": room_id, platform: credentials})

    async def answer(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["room_id"])
        if session is None or not hasattr(session.room.endpoint, "accept_answer"):
            raise web.HTTPNotFound(text="no such session awaiting an answer")
        body = await _json_body(request)
        if not isinstance(body.get("sdp"), str):
            raise web.HTTPBadRequest(text="'sdp' (string) is required")
        await session.room.endpoint.accept_answer(body["sdp"])
        return web.json_response({"status": "ok"})

    async def disconnect(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        room_id = body.get("room_id")
        if room_id not in self.sessions:
            raise web.HTTPNotFound(text=f"no session {room_id!r}")
        echoed = await self._close(room_id)
        return web.json_response({"status": "ok", "room_id": room_id, "messages_echoed": echoed})

    async def _close(self, room_id: str) -> int:
        session = self.sessions.pop(room_id)
        with contextlib.suppress(Exception):
            await session.room.endpoint.close()
        if session.room.cleanup is not None:
            with contextlib.suppress(Exception):
                await session.room.cleanup()
        log.info("session %s closed after %d pongs", room_id, session.echo.message_count)
        return session.echo.message_count

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_S)
            now = time.time()
            for room_id in [r for r, s in self.sessions.items() if s.expires_at <= now]:
                log.info("session %s expired", room_id)
                await self._close(room_id)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body
