"""A local stand-in of Daily's REST API: aiohttp on 127.0.0.1, its own thread and loop.

It answers the three calls the echo agent makes (``GET /rooms``,
``POST /rooms``, ``DELETE /rooms/{name}``) under ``/v1`` in Daily's shapes,
checks ``Authorization: Bearer <key>`` as Daily does (401
``authentication-error`` otherwise) and records every request it sees.
Scripts: ``create_status`` (POST /rooms fails with that status and Daily's
error shape) and ``delay_s`` (every answer comes that much later). Usable from
a test's own event loop and from a subprocess alike, since it runs apart.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.threaded_app import ThreadedApp

BASE_PATH = "/v1"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.time)


class DailyApiStub(ThreadedApp):
    """``with DailyApiStub(key) as daily:`` then point ``DailyRooms`` at ``daily.url``."""

    def __init__(self, api_key: str = "test-daily-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.rooms: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.create_status: int | None = None
        self.create_info = "the stand-in was told to fail"
        self.delay_s = 0.0
        self._names = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    # -- what a test reads -------------------------------------------------

    def seen(self, method: str, path: str | None = None) -> list[Recorded]:
        """Requests with that method (and path below ``/v1``, e.g. ``/rooms``), oldest first."""
        return [r for r in self.requests if r.method == method and (path is None or r.path == BASE_PATH + path)]

    def wait_for(self, method: str, path: str, timeout: float = 5.0) -> Recorded:
        """Block (bounded) until such a request arrives; for tests outside an event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.seen(method, path):
                return found[0]
            time.sleep(0.02)
        raise AssertionError(
            f"no {method} {path} within {timeout} s; saw {[(r.method, r.path) for r in self.requests]}"
        )

    # -- the API -----------------------------------------------------------

    @web.middleware
    async def _record_and_authorize(self, request: web.Request, handler):
        body = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(Recorded(request.method, request.path, dict(request.query), dict(request.headers), body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                {"error": "authentication-error", "info": "authorization header missing or invalid"}, status=401
            )
        return await handler(request)

    async def _list(self, request: web.Request) -> web.Response:
        data = list(self.rooms.values())
        return web.json_response({"total_count": len(data), "data": data[: int(request.query.get("limit", 100))]})

    async def _create(self, request: web.Request) -> web.Response:
        if self.create_status is not None:
            kind = "server-error" if self.create_status >= 500 else "invalid-request-error"
            return web.json_response({"error": kind, "info": self.create_info}, status=self.create_status)
        try:
            body = await request.json()  # read once already: aiohttp keeps the bytes
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        name = body.get("name") or f"stub-room-{next(self._names)}"
        room = {
            "id": f"00000000-0000-4000-8000-{len(self.rooms) + len(self.deleted) + 1:012d}",
            "name": name,
            "api_created": True,
            "privacy": body.get("privacy", "public"),
            "url": f"https://fake.daily.co/{name}",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "config": dict(body.get("properties") or {}),
            "properties": dict(body.get("properties") or {}),
        }
        self.rooms[name] = room
        return web.json_response(room)

    async def _delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.rooms.pop(name, None) is None:
            return web.json_response({"error": "not-found", "info": f"room {name} was not found"}, status=404)
        self.deleted.append(name)
        return web.json_response({"deleted": True, "name": name})

    # -- lifecycle ---------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_authorize])
        app.add_routes(
            [
                web.get(f"{BASE_PATH}/rooms", self._list),
                web.post(f"{BASE_PATH}/rooms", self._create),
                web.delete(BASE_PATH + "/rooms/{name}", self._delete),
            ]
        )
        return app
