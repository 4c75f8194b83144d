"""Rooms and participants of the loopback server: presence, eviction and the data relay.

Each participant has one aiortc peer connection, the server end of the SDK's
publisher connection. The SDK opens its data channels (``_reliable``,
``_lossy``) in-band on it and reads from those same channels, so relaying is:
take a ``DataPacket`` off one participant's channel and send the bytes
unchanged on the same-labelled channel of every other participant it is
addressed to. The server opens no channel of its own.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import Counter, defaultdict

from aiohttp import web
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection
from livekit.protocol import models, rtc

log = logging.getLogger(__name__)

#: Packets held per participant and channel until the channel opens; beyond that they are dropped.
BACKLOG_LIMIT = 1000

STANDARD = models.ParticipantInfo.Kind.STANDARD
AGENT = models.ParticipantInfo.Kind.AGENT
_KINDS = set(models.ParticipantInfo.Kind.keys())

PERMISSION = models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True)


def sid(prefix: str) -> str:
    """LiveKit-style ids: the SDK refuses a join whose room/participant sids lack RM_/PA_."""
    return f"{prefix}_{secrets.token_hex(6)}"


class Participant:
    """One signalling session: its socket, its peer connection and the channels the SDK opened."""

    def __init__(self, identity: str, name: str, ws: web.WebSocketResponse, kind: str = "") -> None:
        self.identity = identity
        self.name = name
        # The token's kind ("agent" for dispatched agents); a room closes when only agents are left.
        self.kind = models.ParticipantInfo.Kind.Value(kind.upper()) if kind.upper() in _KINDS else STANDARD
        self.sid = sid("PA")
        self.joined_at = int(time.time())
        self.ws = ws
        # aiortc's default STUN server is on the internet and would stall candidate gathering offline.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channels: dict[str, RTCDataChannel] = {}
        # Packets for a channel the SDK has not opened yet: its join returns before the
        # channels' in-band open reaches us, and a packet sent to it meanwhile must not vanish.
        self.backlog: dict[str, list[bytes]] = defaultdict(list)

    def deliver(self, label: str, packet: bytes) -> bool:
        """Send on this participant's ``label`` channel, or hold it until the channel opens."""
        channel = self.channels.get(label)
        if channel is not None and channel.readyState == "open":
            channel.send(packet)
            return True
        if len(self.backlog[label]) < BACKLOG_LIMIT:
            self.backlog[label].append(packet)
            return True
        return False

    def opened(self, channel: RTCDataChannel) -> None:
        self.channels[channel.label] = channel
        for packet in self.backlog.pop(channel.label, []):
            channel.send(packet)

    async def signal(self, response: rtc.SignalResponse) -> None:
        await self.ws.send_bytes(response.SerializeToString())

    def info(self, state: int = models.ParticipantInfo.ACTIVE) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            state=state,
            joined_at=self.joined_at,
            permission=PERMISSION,
            kind=self.kind,
        )

    async def close(self, reason: int | None = None) -> None:
        """Drop the session; with a ``reason`` the SDK is first told to leave for good (no reconnect)."""
        with contextlib.suppress(Exception):  # the socket may already be gone
            if reason is not None:
                await self.signal(
                    rtc.SignalResponse(leave=rtc.LeaveRequest(reason=reason, action=rtc.LeaveRequest.DISCONNECT))
                )
            await self.ws.close()
        await self.pc.close()


class Room:
    """Participants by identity; ``relayed`` counts packets per channel label (the tests read it)."""

    def __init__(self, name: str, relayed: Counter[str]) -> None:
        self.name = name
        self.sid = sid("RM")
        self.created_at = int(time.time())
        self.participants: dict[str, Participant] = {}
        self.relayed = relayed

    def info(self) -> models.Room:
        return models.Room(
            sid=self.sid,
            name=self.name,
            creation_time=self.created_at,
            num_participants=len(self.participants),
        )

    @property
    def only_agents_left(self) -> bool:
        return bool(self.participants) and all(p.kind == AGENT for p in self.participants.values())

    def others(self, participant: Participant) -> list[Participant]:
        return [p for p in self.participants.values() if p is not participant]

    async def admit(self, participant: Participant) -> None:
        """Seat a newcomer, evicting an older session with its identity, and tell the others."""
        older = self.participants.get(participant.identity)
        if older is not None:
            log.info("room %s: %s joined again; evicting the older session", self.name, participant.identity)
            await self.remove(older, models.DisconnectReason.DUPLICATE_IDENTITY)
        self.participants[participant.identity] = participant
        participant.pc.on("datachannel", lambda channel: self._attach(participant, channel))
        await self._announce(participant, models.ParticipantInfo.ACTIVE)

    async def remove(self, participant: Participant, reason: int | None = None) -> None:
        """Take a participant out (its socket closed, it left, or it was evicted) and tell the others.

        With a ``reason`` the participant is told to leave first.
        """
        if self.participants.get(participant.identity) is not participant:
            return
        del self.participants[participant.identity]
        await participant.close(reason)
        await self._announce(participant, models.ParticipantInfo.DISCONNECTED)

    async def _announce(self, participant: Participant, state: int) -> None:
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[participant.info(state)]))
        for other in self.others(participant):
            with contextlib.suppress(Exception):
                await other.signal(update)

    def _attach(self, sender: Participant, channel: RTCDataChannel) -> None:
        channel.on("message", lambda message: self._relay(sender, channel.label, message))
        sender.opened(channel)

    def _relay(self, sender: Participant, label: str, message: bytes | str) -> None:
        if isinstance(message, str):
            return  # the SDK sends DataPackets as binary only
        packet = models.DataPacket.FromString(message)
        wanted = set(packet.destination_identities)
        for other in self.others(sender):
            if wanted and other.identity not in wanted:
                continue
            if other.deliver(label, message):
                self.relayed[label] += 1
            else:
                log.warning("room %s: %s's %s backlog is full; packet dropped", self.name, other.identity, label)
