"""LiveKit rooms: join tokens minted with livekit-api, the echo joined with its own.

A LiveKit room needs no creation call: the first join creates it. Each
/connect picks a fresh room name and mints two tokens for that room only, one
for the echo participant (``echo-agent``) and one for the runner
(``benchmark-runner``), both valid for the session's lifetime. For the
original runner, which waits for a participant to join after it, the echo
joins again once the runner is in (see ``LiveKitEcho``). The room
closes on the server once the echo leaves (/disconnect, expiry or agent stop)
and the runner is gone. At start the key and secret are proved against the
server's ``/rtc/validate``, which answers 401 to a token it cannot verify.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import time
import warnings
from typing import Any

import aiohttp
from jwt.warnings import InsecureKeyLengthWarning
from livekit import api

from agent.rooms import CredentialError, Room, require
from transports.base import EchoHandler

log = logging.getLogger(__name__)

_SCHEMES = ("ws://", "wss://", "http://", "https://")
_VALIDATE_TIMEOUT = aiohttp.ClientTimeout(total=15)
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 32 bytes.
MIN_SECRET_BYTES = 32


def http_url(url: str) -> str:
    """The signalling URL's HTTP twin (ws→http, wss→https)."""
    return "http" + url[2:] if url.startswith("ws") else url


class LiveKitRooms:
    def __init__(self, url: str, api_key: str, api_secret: str, *, room_factory: Any = None) -> None:
        if not url.startswith(_SCHEMES):
            raise CredentialError(f"LIVEKIT_URL must start with wss:// (or ws://, https://, http://), got {url!r}")
        self.url = url
        self._key = api_key
        self._secret = api_secret
        self._room_factory = room_factory

    @classmethod
    def for_platform(cls, platform: str, host: str, env: dict[str, str]) -> LiveKitRooms:
        return cls.from_env(env)

    @classmethod
    def from_env(cls, env: dict[str, str], *, room_factory: Any = None) -> LiveKitRooms:
        return cls(
            require(env, "LIVEKIT_URL"),
            require(env, "LIVEKIT_API_KEY"),
            require(env, "LIVEKIT_API_SECRET"),
            room_factory=room_factory,
        )

    def token(self, identity: str, room: str, ttl_s: int) -> str:
        """A join token for ``room`` only: data and subscribe, no media publishing."""
        grants = api.VideoGrants(room_join=True, room=room, can_publish=False, can_subscribe=True, can_publish_data=True)
        with warnings.catch_warnings():  # PyJWT's warning prints a source line; ``start`` says it in one of ours
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return (
                api.AccessToken(self._key, self._secret)
                .with_identity(identity)
                .with_name(identity)
                .with_grants(grants)
                .with_ttl(datetime.timedelta(seconds=ttl_s))
                .to_jwt()
            )

    async def start(self) -> None:
        """Ask the server to validate a token we minted: 401 means the key or secret is wrong."""
        if len(self._secret.encode()) < MIN_SECRET_BYTES:
            log.warning(
                "LIVEKIT_API_SECRET is %d bytes, under the %d that HS256 tokens need to be hard to forge",
                len(self._secret.encode()),
                MIN_SECRET_BYTES,
            )
        probe = self.token("echo-agent-check", f"check-{secrets.token_hex(4)}", 60)
        url = http_url(self.url).rstrip("/") + "/rtc/validate"
        try:
            async with (
                aiohttp.ClientSession(timeout=_VALIDATE_TIMEOUT) as http,
                http.get(url, params={"access_token": probe}) as resp,
            ):
                status, body = resp.status, (await resp.text())[:200].strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CredentialError(f"cannot reach LIVEKIT_URL {self.url}: {exc or type(exc).__name__}") from None
        if status in (401, 403):
            raise CredentialError(
                f"LIVEKIT_API_KEY / LIVEKIT_API_SECRET were refused by {self.url} (HTTP {status} {body})"
            )
        if status // 100 != 2:
            log.warning("LiveKit token check at %s answered HTTP %d; continuing", url, status)

    async def open(self, handler: EchoHandler, reliable: bool, expires_at: int, *, announce: bool = False) -> Room:
        from transports.livekit import ECHO_IDENTITY, RUNNER_IDENTITY, LiveKitEcho

        room_name = f"bench-{secrets.token_hex(6)}"
        ttl_s = max(1, expires_at - int(time.time()))
        endpoint = LiveKitEcho(
            self.url,
            self.token(ECHO_IDENTITY, room_name, ttl_s),
            room_factory=self._room_factory,
            announce_to=RUNNER_IDENTITY if announce else None,
        )
        await endpoint.start(handler)
        credentials = {
            "server_url": self.url,
            "room_name": room_name,
            "token": self.token(RUNNER_IDENTITY, room_name, ttl_s),
            "echo_identity": ECHO_IDENTITY,
        }
        return Room(endpoint, credentials)

    async def stop(self) -> None:
        pass
