"""Ping/pong messages of the data-channel wire protocol (docs/ARCHITECTURE.md, "Wire protocol").

Shared by the runner's session and the echo agent so the format lives in one
place. Decoding is strict: anything that does not match raises
``msgspec.ValidationError``/``DecodeError`` and the caller counts it.
"""

from __future__ import annotations

import msgspec

#: Messages larger than this are refused before decoding (docs/ARCHITECTURE.md).
MAX_MESSAGE_BYTES = 64 * 1024


class Ping(msgspec.Struct, omit_defaults=True, tag_field="type", tag="ping"):
    """Runner -> agent. ``timestamp`` (ms) is kept for legacy agents that echo it.

    ``type`` is a tag so it is always encoded (a defaulted field would be
    dropped by ``omit_defaults``, and legacy agents answer only ``"type":"ping"``);
    decoding accepts it missing and refuses any other value.
    """

    seq: int
    timestamp: float
    run_id: str = ""
    pad: str = ""


class Pong(msgspec.Struct, omit_defaults=True, tag_field="type", tag="pong"):
    """Agent -> runner. Legacy agents omit ``seq``, ``t2_ns`` and ``t3_ns``; ``t2_kernel`` says t2 is
    the kernel's receive stamp (absent, as from agents before it, means a user-space stamp)."""

    client_timestamp: float
    server_receive_time: float
    server_send_time: float
    seq: int | None = None
    message_count: int | None = None
    t2_ns: int | None = None
    t3_ns: int | None = None
    t2_kernel: bool = False


PING_DECODER = msgspec.json.Decoder(Ping)
PONG_DECODER = msgspec.json.Decoder(Pong)
ENCODER = msgspec.json.Encoder()


def encode_ping(seq: int, timestamp_ms: float, run_id: str, pad: str = "") -> bytes:
    return ENCODER.encode(Ping(seq=seq, timestamp=timestamp_ms, run_id=run_id, pad=pad))


_PAD_FIELD_BYTES = len(',"pad":""')


def encode_ping_sized(seq: int, timestamp_ms: float, run_id: str, payload_bytes: int) -> bytes:
    """A ping padded to exactly ``payload_bytes`` bytes (unpadded when that is too small to pad to)."""
    bare = encode_ping(seq, timestamp_ms, run_id)
    fill = payload_bytes - len(bare) - _PAD_FIELD_BYTES
    return encode_ping(seq, timestamp_ms, run_id, "x" * fill) if fill > 0 else bare


def decode_pong(data: bytes) -> Pong:
    """Strict decode; raises ``ValueError`` subclasses for anything malformed or oversized."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise msgspec.ValidationError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return PONG_DECODER.decode(data)
