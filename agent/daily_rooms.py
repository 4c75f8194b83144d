"""Daily rooms through Daily's REST API: checked at start, created per /connect, deleted after.

Each /connect gets a fresh room that Daily itself expires (``exp``, with
everyone ejected then), so a crashed agent still leaves nothing behind for
long. ``DAILY_API_URL`` points the agent at another base URL (tests use a
local stand-in); the key is sent only in the Authorization header and never
appears in an error.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from agent.rooms import CredentialError, Room, require
from transports.base import EchoHandler, TransportError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.daily.co/v1"
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)


class DailyApiError(TransportError):
    """Daily's REST API refused a request; the message carries Daily's own words."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class DailyRooms:
    def __init__(self, api_key: str, api_url: str = DEFAULT_API_URL, *, sdk: Any = None) -> None:
        self._key = api_key
        self.api_url = api_url.rstrip("/")
        self._sdk = sdk
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def for_platform(cls, platform: str, host: str, env: dict[str, str]) -> DailyRooms:
        return cls.from_env(env)

    @classmethod
    def from_env(cls, env: dict[str, str], *, sdk: Any = None) -> DailyRooms:
        return cls(require(env, "DAILY_API_KEY"), env.get("DAILY_API_URL") or DEFAULT_API_URL, sdk=sdk)

    async def start(self) -> None:
        """Open the HTTP session and prove the key works (one cheap authenticated GET)."""
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._key}"}, timeout=_HTTP_TIMEOUT, raise_for_status=False
        )
        try:
            await self._call("GET", "/rooms", params={"limit": "1"})
        except DailyApiError as exc:
            await self.stop()
            if exc.status in (401, 403):
                raise CredentialError(f"DAILY_API_KEY was refused by {self.api_url}: {exc}") from None
            if exc.status == 0:
                raise CredentialError(f"cannot reach DAILY_API_URL {self.api_url}: {exc}") from None
            raise CredentialError(f"DAILY_API_URL {self.api_url} did not answer as Daily's API does: {exc}") from None

    async def open(self, handler: EchoHandler, reliable: bool, expires_at: int) -> Room:
        from transports.daily import DailyEcho  # the SDK loads only in agents that serve Daily

        room = await self._call("POST", "/rooms", json={"properties": {"exp": expires_at, "eject_at_room_exp": True}})
        name, url = room["name"], room["url"]
        endpoint = DailyEcho(url, sdk=self._sdk)
        try:
            await endpoint.start(handler)
        except BaseException:
            await self.delete(name)
            raise
        return Room(endpoint, {"room_url": url}, cleanup=lambda: self.delete(name))

    async def delete(self, name: str) -> None:
        """Best effort: Daily deletes an expired room anyway."""
        try:
            await self._call("DELETE", f"/rooms/{name}")
        except DailyApiError as exc:
            log.warning("could not delete Daily room %s: %s", name, exc)

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self._http is None:
            raise DailyApiError("the Daily API client is not started", status=0)
        try:
            async with self._http.request(method, self.api_url + path, **kwargs) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DailyApiError(f"no answer: {exc or type(exc).__name__}", status=0) from None
        if status // 100 != 2 or not isinstance(body, dict):
            raise DailyApiError(_describe(status, body), status=status)
        return body


def _describe(status: int, body: Any) -> str:
    """Daily's error shape is ``{"error": kind, "info": text}``."""
    if isinstance(body, dict) and (body.get("info") or body.get("error")):
        return f"HTTP {status}: {body.get('error', '')} {body.get('info', '')}".strip()
    return f"HTTP {status}"
