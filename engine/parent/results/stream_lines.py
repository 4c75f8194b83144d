"""The ``--stream`` line schema: newline-delimited JSON, one object per line, shared by writer and reader.

A stream is read while it grows (``tail -f``, a pipe) and may be cut off at
any byte, so every line stands alone: a ``type`` tag first, then fields in
fixed units (integer ns for instants, ms floats for durations, named as the
result file names them). The header's ``v`` says which version of this
schema wrote the stream; later versions add fields and line types, never
change a field's meaning, so a reader skips what it does not know
(docs/stream.md).
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.parent.results.histograms import Histograms
from engine.parent.results.model import Metadata, Statistics

#: Bumped when a field changes meaning; adding a field or a line type keeps the version.
STREAM_VERSION = 1
#: How every line starts (the tag is encoded first), and no result file does: how a reader tells them apart.
LINE_PREFIX = b'{"type":"'
#: The stamps a pong line's ``kernel`` may name.
STAMPS = ("t1", "t2", "t3", "t4")


class Header(msgspec.Struct, tag="header", tag_field="type", kw_only=True):
    """First line: the run's identity and settings, and what each platform's numbers will rest on."""

    v: int
    run_id: str
    engine_version: str
    started_ns: int
    host: dict[str, Any]
    #: ``RunSettings`` as asked (engine/parent/settings.py).
    settings: dict[str, Any]
    #: Per platform: its ``PlatformContext`` (clock mode, agent, room, phase, core, impairment).
    platforms: dict[str, dict[str, Any]]


class Pong(msgspec.Struct, tag="pong", tag_field="type", kw_only=True):
    """An answered ping: the result file's measurement row for it, plus its four instants on the wall clock."""

    platform: str
    message_number: int
    round_trip_time: float
    client_to_server: float | None
    server_to_client: float | None
    server_processing: float | None
    network_rtt: float | None
    send_lag: float
    due_ns: int
    t1_ns: int
    t2_ns: int | None
    t3_ns: int | None
    t4_ns: int
    #: The stamps the kernel took (the rest are user-space).
    kernel: list[str] = []


class Lost(msgspec.Struct, tag="lost", tag_field="type", kw_only=True):
    """A measured ping without a pong within the timeout."""

    platform: str
    message_number: int
    due_ns: int
    t1_ns: int


class Late(msgspec.Struct, tag="late", tag_field="type", kw_only=True):
    """A lost ping whose pong came after the timeout (the worker says so when it finishes)."""

    platform: str
    message_number: int


class Duplicate(msgspec.Struct, tag="duplicate", tag_field="type", kw_only=True):
    """One more pong for a ping already answered (the worker says so when it finishes)."""

    platform: str
    message_number: int


class PlatformEnd(msgspec.Struct, kw_only=True):
    """A platform's result without its per-ping parts (those were the pong and lost lines)."""

    statistics: Statistics
    metadata: Metadata
    late: list[int] = []
    histograms: Histograms | None = None
    #: Message numbers whose agent-side values the result leaves out (null there), whatever their pong line said.
    agent_side_unavailable: list[int] = []
    #: Message numbers of lost pings by the direction they died in (known only once the agent's record is in;
    #: the rest are unknown): the file's ``lost[].direction``.
    lost_directions: dict[str, list[int]] = {}


class End(msgspec.Struct, tag="end", tag_field="type", kw_only=True):
    """Last line: each platform's statistics and metadata exactly as the result file has them."""

    v: int
    run_id: str
    platforms: dict[str, PlatformEnd]
    comparison: dict[str, Any] | None = None


Line = Header | Pong | Lost | Late | Duplicate | End
KNOWN_TYPES = frozenset(t.__struct_config__.tag for t in (Header, Pong, Lost, Late, Duplicate, End))

ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Line)


class _Tag(msgspec.Struct):
    type: str = ""


_TAG = msgspec.json.Decoder(_Tag)


def encode(line: Line | dict[str, Any]) -> bytes:
    return ENCODER.encode(line) + b"\n"


def decode(text: bytes) -> Line | None:
    """One line back into its struct; None for a line type this version does not know (a later version's)."""
    if _TAG.decode(text).type not in KNOWN_TYPES:
        return None
    return _DECODER.decode(text)
