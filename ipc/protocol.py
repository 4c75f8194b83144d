"""Ping/pong messages of the data-channel wire protocol (docs/ARCHITECTURE.md, "Wire protocol").

Shared by the runner's session and the echo agent so the format lives in one
place. Decoding is strict: anything that does not match raises one of
``DECODE_ERRORS`` and the caller counts it. Every number is bounded at decode
time, so whatever a peer sends, what reaches the parent fits its int64 columns
and their differences.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: Messages larger than this are refused before decoding (docs/ARCHITECTURE.md).
MAX_MESSAGE_BYTES = 64 * 1024

#: What msgspec raises for bad input: its own errors (ValueError subclasses), UnicodeDecodeError
#: (also a ValueError) for invalid UTF-8 in a string, RecursionError for deeply nested arrays.
DECODE_ERRORS = (ValueError, RecursionError)

#: Agent instants are Unix epoch ns up to 2**62 (year 2116): t3 - t2, t2 + processing and
#: RTT - processing then all fit in int64.
MAX_EPOCH_NS = 2**62
EpochNs = Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_NS)]
#: Legacy agents' instants in ms, bounded alike so their difference in ns fits int64 too.
EpochMs = Annotated[float, msgspec.Meta(ge=0, le=MAX_EPOCH_NS / 1e6)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class Ping(msgspec.Struct, omit_defaults=True, kw_only=True, tag_field="type", tag="ping"):
    """Runner -> agent. ``timestamp`` (ms) is kept for legacy agents that echo it.

    The original voice-rtc-bench runner sends neither ``seq`` nor ``run_id``
    (its ping is ``{"type":"ping","timestamp":…}``), so ``seq`` may be missing:
    the echo then answers the way the original echo agent does.
    ``type`` is a tag so it is always encoded (a defaulted field would be
    dropped by ``omit_defaults``, and legacy agents answer only ``"type":"ping"``);
    decoding accepts it missing and refuses any other value.
    """

    seq: Count | None = None
    timestamp: EpochMs
    run_id: str = ""
    pad: str = ""


class Pong(msgspec.Struct, omit_defaults=True, tag_field="type", tag="pong"):
    """Agent -> runner. Legacy agents omit ``seq``, ``t2_ns`` and ``t3_ns``; ``t2_kernel`` says t2 is
    the kernel's receive stamp (absent, as from agents before it, means a user-space stamp). Fields are
    only ever appended: a runner reads the ones it knows."""

    client_timestamp: EpochMs
    server_receive_time: EpochMs
    server_send_time: EpochMs
    seq: Count | None = None
    message_count: Count | None = None
    t2_ns: EpochNs | None = None
    t3_ns: EpochNs | None = None
    t2_kernel: bool = False
    #: Distinct pings this session's echo has received, this one included (agents before it omit it): a
    #: runner that never hears /disconnect's final set still tells which lost pings reached the agent.
    received: Count | None = None


class Stamp(msgspec.Struct, tag_field="type", tag="stamp"):
    """Agent -> runner, right after a pong, when the runner asked for it (udp's ``kernel_t3``): the
    kernel's transmit stamp of that pong, epoch ns. A pong cannot carry the instant it leaves."""

    seq: Count
    t3_ns: EpochNs


#: How every ``Stamp`` starts on the wire (its tag is encoded first): told apart from a pong without decoding.
STAMP_PREFIX = b'{"type":"stamp"'

PING_DECODER = msgspec.json.Decoder(Ping)
STAMP_DECODER = msgspec.json.Decoder(Stamp)
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
    """Strict decode; raises one of ``DECODE_ERRORS`` for anything malformed or oversized."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise msgspec.ValidationError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return PONG_DECODER.decode(data)
