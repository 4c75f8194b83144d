"""The echo agent's HTTP control plane (aiohttp): GET /health, POST /connect, POST /disconnect.

/connect creates a session on the requested platform (a room, through that
platform's ``Rooms``), joins it as the echo participant and returns its
credentials in the original agent's shape (``room_id`` plus one object named
after the platform). Sessions end on /disconnect, when they expire, and when
the agent stops; each platform's credentials are checked before it listens.

In public: with a token every request but /health must carry it as
``Authorization: Bearer``; a session's answer URL is itself a secret (its
room id, 64 random bits, handed only to whoever connected). Sessions are
capped (429 beyond), since each holds a socket or a paid room.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

import transports
from agent.bodies import MAX_BODY_BYTES, AnswerBody, ConnectBody, DisconnectBody, read_body
from agent.echo import Echo
from agent.rooms import Room, Rooms
from agent.transport_rtt import EchoSide, echo_side
from ipc.clocks import discipline
from ipc.clocks.anchors import boot_id
from ipc.version import version
from transports.base import TransportError

log = logging.getLogger(__name__)

#: A session's length when the runner asks for none (runners before ``duration_s``).
SESSION_TTL_S = 600
DEFAULT_MAX_SESSIONS = 10
#: The longest session granted unless ``--max-session-s`` says otherwise: a forgotten Daily room costs money.
MAX_SESSION_S = 4 * 3600
_SWEEP_INTERVAL_S = 5.0
#: Most a runner gets of ``busy_poll_us`` (a session's echo polling around each ping costs this host CPU).
MAX_POLL_US = 2000
#: Platforms whose echo answers any address that sends to it: a session there needs the runner's run_id.
_REFLECTING = ("udp",)


@dataclass
class _Session:
    platform: str
    room: Room
    echo: Echo
    expires_at: float
    side: EchoSide | None = None  # the echo's own transport RTT readings, for /disconnect


class EchoAgent:
    """State of one agent process: which platforms it serves and its live sessions."""

    def __init__(
        self,
        rooms: dict[str, Rooms],
        max_session_s: int = MAX_SESSION_S,
        *,
        token: str | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        session_ttl_s: float = SESSION_TTL_S,
        sweep_interval_s: float = _SWEEP_INTERVAL_S,
        clock_source: str = "auto",
    ) -> None:
        self.rooms = rooms
        self.clock_source = clock_source  # read at /connect and /disconnect: this host's clock bound (ipc.clocks.discipline)
        self.max_session_s = max_session_s
        self.platforms = tuple(rooms)
        self.sessions: dict[str, _Session] = {}
        self._expected_auth = f"Bearer {token}".encode() if token else None
        self.max_sessions = max_sessions
        self._opening = 0  # /connect calls between the cap check and their session's registration
        self.session_ttl_s = session_ttl_s
        self._sweep_interval_s = sweep_interval_s
        # Read now: under a flood of connections /health must not need a file descriptor of its own.
        self._identity = {"boot_id": boot_id(), "version": version()}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._authorize])
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

    @web.middleware
    async def _authorize(self, request: web.Request, handler):
        if self._expected_auth is None or request.path == "/health" or request.path.startswith("/sessions/"):
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._expected_auth):
            raise web.HTTPUnauthorized(
                text="this agent needs its AGENT_TOKEN as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "platforms": list(self.platforms), **self._identity, "sessions": len(self.sessions)}
        )

    async def connect(self, request: web.Request) -> web.Response:
        body = await read_body(request, ConnectBody)
        platform = body.platform or self.platforms[0]
        if platform not in self.platforms:
            raise web.HTTPBadRequest(text=f"this agent serves {', '.join(self.platforms)}, not {platform!r}")
        if platform in _REFLECTING and not body.run_id:
            raise web.HTTPBadRequest(text=f"a {platform} session needs the runner's 'run_id': its echo answers only those pings")
        if len(self.sessions) + self._opening >= self.max_sessions:
            raise web.HTTPTooManyRequests(text=f"{self.max_sessions} sessions are open (the agent's --max-sessions); retry when one ends")
        self._opening += 1
        try:
            return await self._open(request, platform, body)
        finally:
            self._opening -= 1

    async def _open(self, request: web.Request, platform: str, body: ConnectBody) -> web.Response:
        clock = await self._read_clock()  # first: once registered, the session must not count twice against the cap
        asked = self.session_ttl_s if body.duration_s is None else body.duration_s
        duration_s = min(math.ceil(asked), self.max_session_s)
        echo = Echo(run_id=body.run_id, kernel_t3=body.kernel_t3, busy_poll_us=min(body.busy_poll_us, MAX_POLL_US))
        expires_at = int(time.time()) + duration_s
        side = echo_side(echo, transports.echo_class(platform)) if platform in transports.PLATFORMS else None
        try:
            # Our runner always names its platform; the original runner posts no body at all.
            room = await self.rooms[platform].open(side or echo, body.reliable, expires_at, announce=body.platform is None)
        except TransportError as exc:
            log.warning("%s session not started: %s", platform, exc)
            raise web.HTTPBadGateway(text=f"{platform}: {exc}") from None
        credentials = room.credentials
        if credentials.get("host") in ("0.0.0.0", "::"):  # bound to every interface: name the one the runner used
            credentials["host"] = request.url.host
        room_id = secrets.token_hex(8)
        if side is not None:
            side.endpoint = room.endpoint
        self.sessions[room_id] = _Session(platform, room, echo, expires_at, side)
        if hasattr(room.endpoint, "accept_answer"):
            credentials["answer_url"] = str(request.url.with_path(f"/sessions/{room_id}/answer").with_query(None))
        credentials.update(room_id=room_id, expires_at=expires_at)
        log.info("session %s (%s) started", room_id, platform)
        granted = {"duration_s": duration_s, "max_duration_s": self.max_session_s, "capped": duration_s < asked}
        return web.json_response({"room_id": room_id, platform: credentials, "session": granted, "clock": clock})

    async def _read_clock(self) -> dict:
        """This host's clock reading, off the loop: chronyc is a child process, and other sessions' echoes share the loop."""
        return discipline.as_dict(await asyncio.to_thread(discipline.read, self.clock_source))

    async def answer(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["room_id"])
        if session is None or not hasattr(session.room.endpoint, "accept_answer"):
            raise web.HTTPNotFound(text="no such session awaiting an answer")
        body = await read_body(request, AnswerBody)
        try:
            await session.room.endpoint.accept_answer(body.sdp)
        except TransportError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"status": "ok"})

    async def disconnect(self, request: web.Request) -> web.Response:
        room_id = (await read_body(request, DisconnectBody)).room_id
        session = await self._close(room_id)
        if session is None:
            raise web.HTTPNotFound(text=f"no session {room_id!r}")
        received = session.echo.received
        reply = {
            "status": "ok",
            "room_id": room_id,
            "messages_echoed": session.echo.message_count,
            # the final set: the runner tells a ping lost on the way out from a pong lost on the way back
            "pings_received": {"count": received.count, "ranges": received.ranges(), "complete": received.complete},
            "clock": await self._read_clock(),
        }
        if session.side is not None:
            reply["transport_rtt"] = session.side.reply()
        return web.json_response(reply)

    async def _close(self, room_id: str) -> _Session | None:
        """End a session; None when it is already gone (a /disconnect and the expiry sweep may race)."""
        session = self.sessions.pop(room_id, None)
        if session is None:
            return None
        with contextlib.suppress(Exception):
            await session.room.endpoint.close()
        if session.room.cleanup is not None:
            with contextlib.suppress(Exception):
                await session.room.cleanup()
        log.info("session %s closed after %d pongs", room_id, session.echo.message_count)
        return session

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            now = time.time()
            for room_id in [r for r, s in self.sessions.items() if s.expires_at <= now]:
                if await self._close(room_id) is not None:
                    log.info("session %s expired", room_id)
