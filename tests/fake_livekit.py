"""A scripted stand-in of the ``livekit`` rtc SDK's Room, for constructor injection.

``FakeSfu().room`` is a room factory: each room it makes has the SDK's
``on``/``connect``/``disconnect``/``remote_participants``/``local_participant``
surface and emits the SDK's events (``participant_connected``,
``participant_disconnected``, ``data_received`` with a ``DataPacket``,
``disconnected`` with a ``DisconnectReason``, ``reconnecting``,
``reconnected``) on the event loop, where the real SDK emits them. The
token's identity is read from the JWT without checking it. Scripts:
``connect_error`` (raises ``rtc.ConnectError``), ``connect_hangs``, and from
the server's side ``evict(identity, reason)``, ``reconnecting(identity)`` and
``reconnected(identity)``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit import api, rtc


@dataclass
class FakeParticipant:
    identity: str


class FakeSfu:
    def __init__(self, connect_error: str | None = None, connect_hangs: bool = False) -> None:
        self.connect_error = connect_error
        self.connect_hangs = connect_hangs
        self.rooms: dict[str, list[FakeRoom]] = defaultdict(list)
        self.made: list[FakeRoom] = []

    def room(self) -> FakeRoom:
        made = FakeRoom(self)
        self.made.append(made)
        return made

    def members(self, identity: str) -> list[FakeRoom]:
        return [m for members in self.rooms.values() for m in members if m.identity == identity]

    def evict(self, identity: str, reason: int = rtc.DisconnectReason.PARTICIPANT_REMOVED) -> None:
        """The server removes ``identity``: the others hear ``participant_disconnected``, its own room
        ``disconnected`` with ``reason``, after which its ``disconnect()`` has nothing left to do."""
        for member in self.members(identity):
            member._leave()
            member.loop.call_soon(member.emit, "disconnected", reason)

    def reconnecting(self, identity: str) -> None:
        """``identity``'s connection drops and its SDK starts to resume it; it stays in its room."""
        for member in self.members(identity):
            member.loop.call_soon(member.emit, "reconnecting")

    def reconnected(self, identity: str) -> None:
        for member in self.members(identity):
            member.loop.call_soon(member.emit, "reconnected")


class _LocalParticipant:
    def __init__(self, room: FakeRoom) -> None:
        self._room = room
        self.published: list[tuple[bytes, bool, list[str]]] = []

    async def publish_data(
        self, payload: bytes, *, reliable: bool = True, destination_identities: tuple[str, ...] = (), topic: str = ""
    ) -> None:
        await asyncio.sleep(0)  # the SDK awaits its FFI callback
        if self._room.name is None:
            raise rtc.ConnectError("the room isn't connected")
        self.published.append((payload, reliable, list(destination_identities)))
        kind = rtc.DataPacketKind.KIND_RELIABLE if reliable else rtc.DataPacketKind.KIND_LOSSY
        for peer in self._room.peers():
            if not destination_identities or peer.identity in destination_identities:
                packet = rtc.DataPacket(
                    data=bytes(payload), kind=kind, participant=FakeParticipant(self._room.identity)
                )
                peer.loop.call_soon(peer.emit, "data_received", packet)


class FakeRoom:
    def __init__(self, sfu: FakeSfu) -> None:
        self.sfu = sfu
        self.loop = asyncio.get_running_loop()
        self.handlers: dict[str, list[Callable[..., Any]]] = defaultdict(list)
        self.name: str | None = None
        self.identity = ""
        self.url = ""
        self.options: Any = None
        self.disconnects = 0
        self.local_participant = _LocalParticipant(self)

    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        self.handlers[event].append(callback)
        return callback

    def emit(self, event: str, *args: Any) -> None:
        for callback in self.handlers[event]:
            callback(*args)

    def peers(self) -> list[FakeRoom]:
        return [m for m in self.sfu.rooms.get(self.name or "", []) if m is not self]

    @property
    def remote_participants(self) -> dict[str, FakeParticipant]:
        return {p.identity: FakeParticipant(p.identity) for p in self.peers()}

    async def connect(self, url: str, token: str, options: Any = None) -> None:
        if self.sfu.connect_hangs:
            await asyncio.Event().wait()
        if self.sfu.connect_error:
            raise rtc.ConnectError(self.sfu.connect_error)
        claims = api.TokenVerifier().verify(token, verify_signature=False)
        self.url, self.options, self.identity = url, options, claims.identity
        self.name = claims.video.room
        for peer in self.peers():
            peer.loop.call_soon(peer.emit, "participant_connected", FakeParticipant(self.identity))
        self.sfu.rooms[self.name].append(self)

    def _leave(self) -> None:
        members = self.sfu.rooms.get(self.name or "", [])
        if self in members:
            members.remove(self)
            for peer in members:
                peer.loop.call_soon(peer.emit, "participant_disconnected", FakeParticipant(self.identity))
        self.name = None

    async def disconnect(self) -> None:
        self.disconnects += 1
        if self.name is not None:
            self._leave()
            self.emit("disconnected", rtc.DisconnectReason.CLIENT_INITIATED)
