"""LiveKit signalling over aiohttp: token check, join, offer/answer, trickle, keepalive, leave.

``/rtc/v1`` (the SDK's default) carries the join request and the client's
first offer in the ``join_request`` query parameter; ``/rtc`` (the older
path) takes plain query parameters and the offer as a later
``SignalRequest``. Every frame either way is one binary protobuf message.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import time
from collections import Counter

from aiohttp import WSMsgType, web
from aiortc import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from livekit import api
from livekit.protocol import models, rtc

from tests.livekit_loopback.dispatch import Dispatcher
from tests.livekit_loopback.room import Participant, Room

log = logging.getLogger(__name__)

#: Keepalive the SDK is told to use (s); 0 would panic one of its threads.
PING_INTERVAL_S = 5
PING_TIMEOUT_S = 15


class Unauthorized(Exception):
    """The token is missing, forged, expired or grants no room join."""


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ")
    return request.query.get("access_token", "")


def _join_request(request: web.Request) -> rtc.JoinRequest:
    """``/rtc/v1``'s ``join_request``: URL-safe base64 (unpadded) of a WrappedJoinRequest, maybe gzipped."""
    encoded = request.query.get("join_request", "")
    if not encoded:
        return rtc.JoinRequest()
    wrapped = rtc.WrappedJoinRequest.FromString(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    inner = wrapped.join_request
    if wrapped.compression == rtc.WrappedJoinRequest.GZIP:
        inner = gzip.decompress(inner)
    return rtc.JoinRequest.FromString(inner)


class LoopbackServer:
    """Rooms by name, created on first join and dropped when empty."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        ping_interval_s: int = PING_INTERVAL_S,
        ping_timeout_s: int = PING_TIMEOUT_S,
    ) -> None:
        if ping_interval_s <= 0 or ping_timeout_s <= 0:
            raise ValueError("the SDK needs a ping interval and timeout above 0")
        self._verifier = api.TokenVerifier(api_key, api_secret)
        self.dispatcher = Dispatcher(api_key, api_secret)
        self._ping = (ping_interval_s, ping_timeout_s)
        self.rooms: dict[str, Room] = {}
        self.relayed: Counter[str] = Counter()
        self.pings = 0  # keepalives answered: a test can see the SDK kept its link alive

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/rtc/v1", self._join)
        app.router.add_get("/rtc", self._join)
        app.router.add_get("/rtc/validate", self._validate)
        app.router.add_get("/rtc/v1/validate", self._validate)
        app.router.add_get("/agent", self.dispatcher.serve)
        app.router.add_get("/stats", self._stats)
        app.on_shutdown.append(self._shutdown)
        return app

    def _claims(self, request: web.Request) -> api.Claims:
        token = _token(request)
        if not token:
            raise Unauthorized("no access token")
        try:
            claims = self._verifier.verify(token)
        except Exception as exc:  # PyJWT's errors: bad signature, expired, malformed
            raise Unauthorized(f"invalid token: {exc}") from None
        if not claims.video.room_join or not claims.video.room:
            raise Unauthorized("the token grants no room join")
        return claims

    async def _stats(self, _request: web.Request) -> web.Response:
        """The exit line's counts so far: a test waits on them mid-run (so many pings relayed)."""
        return web.json_response({"relayed": dict(self.relayed), "keepalives": self.pings})

    async def _validate(self, request: web.Request) -> web.Response:
        """Asked by the SDK after a failed handshake, and by the echo agent at start."""
        try:
            self._claims(request)
        except Unauthorized as exc:
            return web.Response(status=401, text=str(exc))
        return web.Response(text="success")

    async def _join(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self._claims(request)
        except Unauthorized as exc:
            log.info("refused a join: %s", exc)
            return web.Response(status=401, text=str(exc))
        join = _join_request(request) if request.path == "/rtc/v1" else rtc.JoinRequest()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        room = self.rooms.get(claims.video.room)
        created = room is None
        if room is None:
            room = self.rooms[claims.video.room] = Room(claims.video.room, self.relayed)
        participant = Participant(claims.identity, claims.name or claims.identity, ws, claims.kind)
        await room.admit(participant)
        log.info("room %s: %s joined via %s", room.name, participant.identity, request.path)
        if created and claims.room_config is not None:  # LiveKit applies a token's room configuration on creation
            self.dispatcher.dispatch(room, claims.room_config.agents)
        try:
            await participant.signal(rtc.SignalResponse(join=self._join_response(room, participant)))
            if join.HasField("publisher_offer"):
                await _answer(participant, join.publisher_offer)
            async for message in ws:
                if message.type != WSMsgType.BINARY or not await self._handle(
                    participant, rtc.SignalRequest.FromString(message.data)
                ):
                    break
        finally:
            await room.remove(participant)
            log.info("room %s: %s left", room.name, participant.identity)
            if room.only_agents_left:  # the room closes: its agents' jobs end
                await self.dispatcher.terminate(room.name)
                for agent in list(room.participants.values()):
                    await room.remove(agent, models.DisconnectReason.ROOM_CLOSED)
            if not room.participants and self.rooms.get(room.name) is room:
                del self.rooms[room.name]
        return ws

    def _join_response(self, room: Room, participant: Participant) -> rtc.JoinResponse:
        return rtc.JoinResponse(
            room=room.info(),
            participant=participant.info(),
            other_participants=[p.info() for p in room.others(participant)],
            server_version="1.9.0",
            server_info=models.ServerInfo(version="1.9.0", protocol=16, node_id="loopback"),
            subscriber_primary=False,  # True would make the SDK wait for a server-made subscriber connection
            ping_interval=self._ping[0],
            ping_timeout=self._ping[1],
        )

    async def _handle(self, participant: Participant, request: rtc.SignalRequest) -> bool:
        """Answer one client request; False when the client left."""
        kind = request.WhichOneof("message")
        if kind == "offer":  # renegotiation on /rtc/v1, the first offer on /rtc
            await _answer(participant, request.offer)
        elif kind == "trickle":
            await _add_candidate(participant, request.trickle.candidateInit)
        elif kind == "ping_req":
            self.pings += 1
            now_ms = int(time.time() * 1000)
            await participant.signal(
                rtc.SignalResponse(pong_resp=rtc.Pong(last_ping_timestamp=request.ping_req.timestamp, timestamp=now_ms))
            )
        elif kind == "ping":
            self.pings += 1
            await participant.signal(rtc.SignalResponse(pong=int(time.time() * 1000)))
        elif kind == "leave":
            return False
        return True  # subscription, metadata, sync_state, ...: nothing to do for a data-only room

    async def _shutdown(self, app: web.Application) -> None:
        """Tell everyone the server is going away, so SDKs disconnect at once instead of retrying."""
        await self.dispatcher.close()
        for room in list(self.rooms.values()):
            for participant in list(room.participants.values()):
                await room.remove(participant, models.DisconnectReason.SERVER_SHUTDOWN)


async def _answer(participant: Participant, offer: rtc.SessionDescription) -> None:
    """aiortc answers the SDK's offer as is: media sections inactive, the application section with SCTP."""
    pc = participant.pc
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await participant.signal(
        rtc.SignalResponse(answer=rtc.SessionDescription(type="answer", sdp=pc.localDescription.sdp, id=offer.id))
    )


async def _add_candidate(participant: Participant, candidate_init: str) -> None:
    """The SDK trickles JSON ``{candidate, sdpMid, sdpMLineIndex}``; aiortc's answer already has ours."""
    init = json.loads(candidate_init)
    line = init.get("candidate", "")
    if not line:
        return  # end-of-candidates
    candidate = candidate_from_sdp(line.removeprefix("candidate:"))
    candidate.sdpMid = init.get("sdpMid")
    candidate.sdpMLineIndex = init.get("sdpMLineIndex")
    try:
        await participant.pc.addIceCandidate(candidate)
    except Exception as exc:  # e.g. a candidate for a section aiortc answered inactive
        log.debug("candidate %r not added: %s", line, exc)
