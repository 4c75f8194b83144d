"""Ping/pong messages of the data-channel wire protocol (DESIGN.md, "Wire protocol").

Shared by the runner's session and the echo agent so the format lives in one
place. Decoding is strict: anything that does not match raises
``msgspec.ValidationError``/``DecodeError`` and the caller counts it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

#: Messages larger than this are refused before decoding (DESIGN.md).
MAX_MESSAGE_BYTES = 64 * 1024


class Ping(msgspec.Struct, omit_defaults=True):
    """Runner -> agent. ``timestamp`` (ms) is kept for legacy agents that echo it."""

    seq: int
    timestamp: float
    run_id: str = ""
    pad: str = ""
    type: Literal["ping"] = "ping"


class Pong(msgspec.Struct, omit_defaults=True):
    """Agent -> runner. Legacy agents omit ``seq``, ``t2_ns`` and ``t3_ns``."""

    client_timestamp: float
    server_receive_time: float
    server_send_time: float
    type: Literal["pong"] = "pong"
    seq: int | None = None
    message_count: int | None = None
    t2_ns: int | None = None
    t3_ns: int | None = None


PING_DECODER = msgspec.json.Decoder(Ping)
PONG_DECODER = msgspec.json.Decoder(Pong)
ENCODER = msgspec.json.Encoder()


def pad_for(payload_bytes: int, run_id: str) -> str:
    """Filler that brings an encoded ping (7-digit seq) to ``payload_bytes`` bytes."""
    unpadded = len(encode_ping(1_000_000, 1.7e12, run_id, pad="x")) - 1
    return "x" * max(0, payload_bytes - unpadded)


def encode_ping(seq: int, timestamp_ms: float, run_id: str, pad: str = "") -> bytes:
    return ENCODER.encode(Ping(seq=seq, timestamp=timestamp_ms, run_id=run_id, pad=pad))


def decode_pong(data: bytes) -> Pong:
    """Strict decode; raises ``ValueError`` subclasses for anything malformed or oversized."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise msgspec.ValidationError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return PONG_DECODER.decode(data)
