"""Platform transports, imported lazily so a worker loads only its own SDK."""

from __future__ import annotations

import importlib
from typing import Any

# platform -> (module, client class, echo class)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "daily": ("transports.daily", "DailyClient", "DailyEcho"),
    "livekit": ("transports.livekit", "LiveKitClient", "LiveKitEcho"),
    "webrtc": ("transports.webrtc", "WebRTCClient", "WebRTCEcho"),
    "udp": ("transports.udp", "UdpClient", "UdpEcho"),
}

PLATFORMS: tuple[str, ...] = tuple(_REGISTRY)

#: Platforms with one, reliable message mode: ``--unreliable`` cannot apply to them.
RELIABLE_ONLY: frozenset[str] = frozenset({"daily"})


def client_class(platform: str) -> Any:
    module, client, _ = _REGISTRY[platform]
    return getattr(importlib.import_module(module), client)


def echo_class(platform: str) -> Any:
    module, _, echo = _REGISTRY[platform]
    return getattr(importlib.import_module(module), echo)
