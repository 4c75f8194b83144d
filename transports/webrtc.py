"""Direct WebRTC data channel (aiortc): a peer-to-peer path with no platform in between.

The agent is the offerer: it creates the "bench" channel, gathers every
candidate in ``setLocalDescription`` (aiortc does not trickle) and hands the
complete offer to the runner in its /connect credentials. The runner answers
by POSTing its SDP to the agent's ``answer_url``; the channel then opens
peer to peer. No ICE servers are configured: aiortc's default STUN server is
on the internet and stalls gathering on an offline host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import aiohttp
import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from transports import transport_rtt
from transports.base import ClientTransport, EchoHandler, Notify, Receiver, RttReport, TransportError
from transports.sdp import candidate_addresses, rewrite_candidates

logger = logging.getLogger(__name__)

_LABEL = "bench"


def restrict_ice_to_loopback() -> None:
    """Gather host candidates on 127.0.0.1 only, for this whole process.

    aioice leaves 127.0.0.1 out of its host candidates; with a same-host agent
    we need it, and our runs must never send to the machine's external addresses.
    aioice announces no mDNS names for local candidates and, with no ICE servers,
    gathers no server-reflexive or relay ones, so 127.0.0.1 is then the only
    candidate either side offers.
    """
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name or an mDNS ".local" name
        return False


def _new_peer_connection(side: str) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    @pc.on("connectionstatechange")
    def _on_state() -> None:
        logger.debug("webrtc %s connection state: %s", side, pc.connectionState)

    return pc


class _PeerRtt:
    """Either side's peer connection: its ICE STUN round trip and SCTP SRTT (transports/transport_rtt.py)."""

    _pc: RTCPeerConnection | None
    transport_rtt_source = transport_rtt.ICE_STUN

    def read_transport_rtt(self, report: RttReport) -> None:
        if self._pc is not None:
            transport_rtt.read_aiortc(self._pc, report)


class WebRTCEcho(_PeerRtt):
    """Agent side: offers a data channel and answers every message on it."""

    def __init__(self, host: str = "127.0.0.1", *, reliable: bool = True) -> None:
        self._host = host
        self._reliable = reliable
        self._pc: RTCPeerConnection | None = None

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        if _is_loopback(self._host):
            restrict_ice_to_loopback()
        self._pc = pc = _new_peer_connection("echo")
        if self._reliable:
            channel = pc.createDataChannel(_LABEL)
        else:
            channel = pc.createDataChannel(_LABEL, ordered=False, maxRetransmits=0)

        @channel.on("message")
        def _echo(data: bytes | str) -> None:
            t2 = time.time_ns()
            reply = handler(data if isinstance(data, bytes) else data.encode(), t2)
            # The offerer's channel turns "open" only on the peer's DCEP ACK; an
            # unordered ping may overtake it, and send() would raise before then.
            if reply is not None and channel.readyState == "open":
                channel.send(reply)

        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription  # carries the gathered candidates; createOffer's result does not
        return {"offer": {"sdp": offer.sdp, "type": offer.type}, "reliable": self._reliable}

    async def accept_answer(self, sdp: str) -> None:
        """Apply the runner's answer; ICE, DTLS and SCTP then connect in the background."""
        if self._pc is None:
            raise TransportError("webrtc echo got an answer before start() or after close()")
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc's SDP parsing fails on bad input as ValueError, KeyError, AssertionError...
            raise TransportError(f"unusable SDP answer ({type(exc).__name__}: {exc})"[:200]) from None

    async def close(self) -> None:
        if self._pc is not None:
            pc, self._pc = self._pc, None
            await pc.close()


class WebRTCClient(_PeerRtt, ClientTransport):
    """Runner side: answers the agent's offer and sends on the channel it opens."""

    def __init__(self, *, reliable: bool = True) -> None:
        # The agent's offer fixes the channel's mode; ``reliable`` is kept for a
        # uniform constructor and must match what the agent was started with.
        self._reliable = reliable
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self.waiting_for = "the webrtc data channel to open"

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        try:
            offer_sdp = str(credentials["offer"]["sdp"])
            answer_url, room_id = str(credentials["answer_url"]), credentials["room_id"]
        except (KeyError, TypeError) as exc:
            raise TransportError(
                f"webrtc credentials need offer.sdp, answer_url and room_id, got keys {sorted(credentials)}"
            ) from exc
        addresses = [address for address, _ in candidate_addresses(offer_sdp)]
        if addresses and all(_is_loopback(a) for a in addresses):
            restrict_ice_to_loopback()

        self._pc = pc = _new_peer_connection("client")
        opened: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            # A peer lost mid-run (failed, or closed by the far end: not by our close(), which lets go of
            # ``_pc`` first) is not fatal: sends are dropped and the engine counts the pings as lost; the user hears why.
            if pc.connectionState in ("failed", "closed") and self._pc is pc:
                notify("warning", f"the webrtc peer connection {pc.connectionState}; later pings are lost")

        @pc.on("datachannel")
        def _on_channel(channel: RTCDataChannel) -> None:
            @channel.on("message")
            def _on_message(data: bytes | str) -> None:
                t4 = time.perf_counter_ns()
                receiver(data, t4)

            # aiortc opens an answerer's channel before emitting it: no "open" event follows.
            if not opened.done():
                opened.set_result(channel)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"room_id": room_id, "sdp": pc.localDescription.sdp, "type": "answer"}
        via = credentials.get("answer_via")  # an impairment proxy's socket facing the agent: our only candidate
        if via:
            host, _, port = str(via).rpartition(":")
            answer["sdp"] = rewrite_candidates(answer["sdp"], host, int(port))
        try:
            async with aiohttp.ClientSession() as http, http.post(answer_url, json=answer) as resp:
                if resp.status // 100 != 2:
                    body = (await resp.content.read(200)).decode(errors="replace")  # no more of a stranger's reply
                    raise TransportError(f"webrtc agent rejected the answer at {answer_url}: HTTP {resp.status} {body}")
        except aiohttp.ClientError as exc:
            raise TransportError(f"could not post the webrtc answer to {answer_url}: {exc}") from exc
        self._channel = await opened

    @staticmethod
    def to_wire(data: bytes) -> bytes:
        return data

    @staticmethod
    def from_wire(message: bytes | str) -> bytes:
        return message if isinstance(message, bytes) else message.encode()  # a peer may send text frames

    def send(self, data: bytes) -> None:
        # aiortc only queues here; the SCTP task sends on the next loop turn.
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(data)

    async def close(self) -> None:
        self._channel = None
        if self._pc is not None:
            pc, self._pc = self._pc, None
            await pc.close()

    def versions(self) -> dict[str, str]:
        return {"aiortc": version("aiortc"), "aioice": version("aioice")}
