"""LiveKit (the ``livekit`` rtc SDK): pings as data packets through a LiveKit SFU.

The runner joins the agent's room, waits until the echo participant is
present (a ping sent earlier would be dropped by the SFU), then publishes each
ping to that participant alone, on the reliable or the lossy data channel.
The SDK delivers ``data_received`` on the event loop after its own hop from
the FFI thread; t4 is the first statement there, the earliest this SDK allows.
``publish_data`` is a coroutine: ``send`` schedules it, so the bytes leave on
the next loop turn, the same "send queues" contract as aiortc's.

The room is made by ``room_factory`` (default ``rtc.Room``) so tests can
script it: anything with ``on``, ``connect``, ``disconnect``,
``remote_participants`` and ``local_participant.publish_data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

from livekit import rtc

from transports import transport_rtt
from transports.base import BytesOnTheWire, ClientTransport, EchoHandler, Notify, Receiver, RttReport, TransportError

log = logging.getLogger(__name__)

#: Identities the agent gives its tokens; the runner waits for the echo's.
RUNNER_IDENTITY = "benchmark-runner"
ECHO_IDENTITY = "echo-agent"

RoomFactory = Callable[[], Any]

#: How long the echo waits for its own join; /connect must answer, not hang.
ECHO_JOIN_TIMEOUT_S = 30.0


def _options() -> rtc.RoomOptions:
    return rtc.RoomOptions(auto_subscribe=False)  # data only: never pull media


def _disconnect_reason(reason: Any) -> str:
    """The SDK's ``DisconnectReason`` by name, e.g. SERVER_SHUTDOWN."""
    try:
        return rtc.DisconnectReason.Name(reason)
    except (ValueError, TypeError):
        return f"reason {reason}"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


class _Publisher:
    """Schedules ``publish_data`` calls and reports the first failure once."""

    def __init__(self, local: Any, on_error: Callable[[str], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._local = local
        self._on_error = on_error
        self._pending: set[asyncio.Task] = set()
        self.errors = 0

    def publish(self, data: bytes, reliable: bool, to: list[str]) -> None:
        task = self._loop.create_task(self._local.publish_data(data, reliable=reliable, destination_identities=to))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        self.errors += 1
        if self.errors == 1:
            self._on_error(_reason(task.exception()))

    async def cancel(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)


async def _leave(publisher: _Publisher | None, room: Any) -> None:
    """Drop unsent packets, then leave the room; each side's ``close`` runs this once."""
    if publisher is not None:
        await publisher.cancel()
    if room is not None:
        with contextlib.suppress(Exception):
            await room.disconnect()


class _RoomRtt:
    """Either side's room: its candidate pairs' RTT from ``get_rtc_stats()`` (transports/transport_rtt.py)."""

    _room: Any
    _rtt_reader: transport_rtt.LiveKitReader | None = None
    transport_rtt_source = transport_rtt.LIVEKIT_ICE

    def read_transport_rtt(self, report: RttReport) -> None:
        if self._rtt_reader is None:
            self._rtt_reader = transport_rtt.LiveKitReader()
        self._rtt_reader.read(self._room, report)


class LiveKitClient(_RoomRtt, BytesOnTheWire, ClientTransport):
    """Runner side: joins with the agent's token and publishes pings to the echo participant."""

    def __init__(self, *, reliable: bool = True, room_factory: RoomFactory | None = None) -> None:
        self.reliable = reliable
        self._room_factory = room_factory or rtc.Room
        self._room: Any = None
        self._publisher: _Publisher | None = None
        self._destination: list[str] = []
        self._closing = False
        # Set while the SDK reconnects: pings are then not handed to it, so they cannot pile
        # up in its engine, which delayed its final ``disconnected`` by tens of seconds.
        self._reconnecting = False
        self.waiting_for = "the LiveKit room"

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        url, token = credentials.get("server_url"), credentials.get("token")
        if not isinstance(url, str) or not isinstance(token, str):
            raise TransportError(f"livekit credentials need server_url and token, got keys {sorted(credentials)}")
        room_name = credentials.get("room_name", "?")
        # Agents of the original voice-rtc-bench name no echo identity: any other participant is the echo.
        echo_identity = credentials.get("echo_identity")
        present: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def is_echo(participant: Any) -> bool:
            return echo_identity is None or participant.identity == echo_identity

        def on_data(packet: Any) -> None:
            t4 = time.perf_counter_ns()
            receiver(packet.data, t4)

        def on_joined(participant: Any) -> None:
            if is_echo(participant) and not present.done():
                present.set_result(participant.identity)

        def on_left(participant: Any) -> None:
            if is_echo(participant) and not self._closing:
                notify("warning", f"the LiveKit echo participant {participant.identity!r} left room {room_name}")

        def on_reconnecting() -> None:
            self._reconnecting = True
            if not self._closing:
                notify("warning", f"LiveKit lost the connection to {url}; pings until the SDK reconnects are lost")

        def on_reconnected() -> None:
            self._reconnecting = False
            if not self._closing:
                notify("warning", f"LiveKit reconnected to {url}")

        def on_disconnected(reason: Any) -> None:
            if not self._closing:
                notify(
                    "error", f"LiveKit disconnected this runner from room {room_name} ({_disconnect_reason(reason)})"
                )

        self._room = room = self._room_factory()
        room.on("data_received", on_data)
        room.on("participant_connected", on_joined)
        room.on("participant_disconnected", on_left)
        room.on("reconnecting", on_reconnecting)
        room.on("reconnected", on_reconnected)
        room.on("disconnected", on_disconnected)
        self.waiting_for = f"the join of LiveKit room {room_name} at {url}"
        try:
            await room.connect(url, token, _options())
        except Exception as exc:  # the SDK raises rtc.ConnectError; a scripted room may raise anything
            raise TransportError(f"could not join LiveKit room {room_name} at {url}: {_reason(exc)}") from None
        self.waiting_for = f"the echo participant {echo_identity or '(any)'} to join LiveKit room {room_name}"
        for participant in room.remote_participants.values():
            on_joined(participant)
        self._destination = [await present]
        self._publisher = _Publisher(
            room.local_participant, lambda why: notify("warning", f"LiveKit refused a data packet: {why}")
        )

    def send(self, data: bytes) -> None:
        if self._publisher is None:
            raise TransportError("livekit: send before connect")
        if not self._reconnecting:
            self._publisher.publish(data, self.reliable, self._destination)

    async def close(self) -> None:
        self._closing = True
        publisher, self._publisher = self._publisher, None
        room, self._room = self._room, None
        await _leave(publisher, room)

    def versions(self) -> dict[str, str]:
        return {"livekit": version("livekit"), "livekit-api": version("livekit-api")}


class LiveKitEcho(_RoomRtt):
    """Agent side: joins the room as the echo participant and answers each packet to its sender,
    on the channel it came in on.

    With ``announce_to`` it leaves and joins again, once, when that participant
    arrives: the original voice-rtc-bench runner waits for a ``participant_connected``
    after its own join (its agent is dispatched into the room then), which an echo
    already present never produces.
    """

    def __init__(
        self, server_url: str, token: str, *, room_factory: RoomFactory | None = None, announce_to: str | None = None
    ) -> None:
        self._url = server_url
        self._token = token
        self._room_factory = room_factory or rtc.Room
        self._announce_to = announce_to
        self._room: Any = None
        self._publisher: _Publisher | None = None
        self._handler: EchoHandler | None = None
        self._rejoin: asyncio.Task | None = None
        self._closed = False

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        self._handler = handler
        try:
            await self._join(handler)
        except BaseException:
            await self.close()
            raise
        return {"server_url": self._url}

    async def _join(self, handler: EchoHandler) -> None:
        self._room = room = self._room_factory()

        def on_data(packet: Any) -> None:
            t2 = time.time_ns()
            pong = handler(packet.data, t2)
            if pong is not None and packet.participant is not None and self._publisher is not None:
                reliable = packet.kind == rtc.DataPacketKind.KIND_RELIABLE
                self._publisher.publish(pong, reliable, [packet.participant.identity])

        def on_joined(participant: Any) -> None:
            if participant.identity == self._announce_to and self._rejoin is None and not self._closed:
                self._rejoin = asyncio.get_running_loop().create_task(self._join_again())

        def on_disconnected(reason: Any) -> None:
            if self._room is room:  # not our own close
                log.warning("LiveKit disconnected the echo from %s (%s)", self._url, _disconnect_reason(reason))

        room.on("data_received", on_data)
        room.on("participant_connected", on_joined)
        room.on("disconnected", on_disconnected)
        try:
            await asyncio.wait_for(room.connect(self._url, self._token, _options()), ECHO_JOIN_TIMEOUT_S)
        except TimeoutError:
            raise TransportError(
                f"echo could not join LiveKit at {self._url}: no answer within {ECHO_JOIN_TIMEOUT_S:g} s"
            ) from None
        except Exception as exc:
            raise TransportError(f"echo could not join LiveKit at {self._url}: {_reason(exc)}") from None
        self._publisher = _Publisher(room.local_participant, lambda why: log.warning("pong not sent: %s", why))

    async def _join_again(self) -> None:
        publisher, self._publisher = self._publisher, None
        room, self._room = self._room, None
        await _leave(publisher, room)
        try:
            await self._join(self._handler)
        except TransportError as exc:
            log.warning("%s", exc)

    async def close(self) -> None:
        self._closed = True
        if self._rejoin is not None:
            self._rejoin.cancel()
            await asyncio.gather(self._rejoin, return_exceptions=True)
        publisher, self._publisher = self._publisher, None
        room, self._room = self._room, None
        await _leave(publisher, room)
