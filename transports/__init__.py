"""Platform transports and the one description of each platform that everything else reads.

The CLI, the echo agent, the agent client and the worker all take a platform's
facts from ``PLATFORMS``; transport classes are named by import path and loaded
lazily, so a worker imports only its own SDK. Nothing here names the agent: the
agent registers its own rooms per platform (``agent.cli.ROOMS``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Platform:
    """What the rest of the project needs to know about one platform."""

    name: str
    client: str  # "module:Class" of the runner's transport
    echo: str  # "module:Class" of the agent's echo endpoint
    agent: str  # which ``echo-agent --platform`` serves it
    default_port: int  # that agent's default HTTP port
    credentials: tuple[str, ...] = ()  # environment variables the agent needs
    embeddable: bool = False  # the runner can start an agent for it on 127.0.0.1
    modes: tuple[str, ...] = ("reliable",)  # "reliable" (ordered, retransmitted) and/or "unreliable"
    max_message_bytes: int = 0  # the largest ping the platform carries in one message
    relayed: bool = False  # through an SFU: the wire is runner↔SFU plus SFU↔agent, each side reading its own


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "daily",
            "transports.daily:DailyClient",
            "transports.daily:DailyEcho",
            agent="daily",
            default_port=8000,
            credentials=("DAILY_API_KEY",),
            max_message_bytes=4096,  # app messages: Daily documents about 4 KB
            relayed=True,
        ),
        Platform(
            "livekit",
            "transports.livekit:LiveKitClient",
            "transports.livekit:LiveKitEcho",
            agent="livekit",
            default_port=8001,
            credentials=("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"),
            modes=("reliable", "unreliable"),
            max_message_bytes=64_000,  # the SDK refuses larger data packets
            relayed=True,
        ),
        Platform(
            "webrtc",
            "transports.webrtc:WebRTCClient",
            "transports.webrtc:WebRTCEcho",
            agent="webrtc",
            default_port=8002,
            embeddable=True,
            modes=("reliable", "unreliable"),
            max_message_bytes=65_536,  # aiortc's SCTP maxMessageSize
        ),
        Platform(
            "udp",
            "transports.udp:UdpClient",
            "transports.udp:UdpEcho",
            agent="webrtc",
            default_port=8002,
            embeddable=True,
            modes=("unreliable",),
            max_message_bytes=65_507,  # an IPv4 datagram's largest payload
        ),
    )
}

#: ``echo-agent --platform`` choices: each serves the platforms whose ``agent`` names it.
AGENT_KINDS: dict[str, tuple[Platform, ...]] = {
    kind: tuple(p for p in PLATFORMS.values() if p.agent == kind) for kind in dict.fromkeys(p.agent for p in PLATFORMS.values())
}


def load(path: str) -> Any:
    """The object a ``"module:Name"`` path names, importing its module on first use."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def client_class(platform: str) -> Any:
    return load(PLATFORMS[platform].client)


def echo_class(platform: str) -> Any:
    return load(PLATFORMS[platform].echo)
