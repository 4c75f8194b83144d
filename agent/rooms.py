"""Where an echo session lives: a local socket or peer connection, or a room on a platform.

An agent owns one ``Rooms`` per platform it serves. ``start`` checks the
platform's credentials before the agent listens (so a bad key fails at start,
not at the first /connect); ``open`` creates a room, joins it as the echo
participant and returns what the runner needs to join too; ``stop`` releases
what ``start`` took.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import transports
from transports.base import EchoEndpoint, EchoHandler


class CredentialError(Exception):
    """A platform credential is missing or refused; the message names the variable."""


@dataclass
class Room:
    """One live echo session: the endpoint echoing in it, the runner's credentials, and its cleanup."""

    endpoint: EchoEndpoint
    credentials: dict[str, Any]
    cleanup: Callable[[], Awaitable[None]] | None = None


class Rooms(Protocol):
    @classmethod
    def for_platform(cls, platform: str, host: str, env: dict[str, str]) -> Rooms: ...

    async def start(self) -> None: ...

    async def open(self, handler: EchoHandler, reliable: bool, expires_at: int) -> Room: ...

    async def stop(self) -> None: ...


def require(env: dict[str, str], name: str) -> str:
    """The variable's value, or a ``CredentialError`` naming it."""
    value = env.get(name, "").strip()
    if not value:
        raise CredentialError(f"{name} is not set: export it or put it in .env (see .env.example)")
    return value


class LocalRooms:
    """webrtc and udp: the echo runs in this process; nothing to provision."""

    def __init__(self, platform: str, host: str) -> None:
        self._platform = platform
        self._host = host

    @classmethod
    def for_platform(cls, platform: str, host: str, env: dict[str, str]) -> LocalRooms:
        return cls(platform, host)

    async def start(self) -> None:
        pass

    async def open(self, handler: EchoHandler, reliable: bool, expires_at: int) -> Room:
        endpoint = transports.echo_class(self._platform)(host=self._host, reliable=reliable)
        return Room(endpoint, await endpoint.start(handler))

    async def stop(self) -> None:
        pass
