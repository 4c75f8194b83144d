"""Frames a worker sends its parent: a msgspec tagged union, encoded as msgpack.

Samples travel column-wise (one list per field) because msgpack encodes a list
of ints far faster than a list of small structs, and the parent appends whole
columns to its arrays.

Every number is bounded where the parent decodes it, so a frame from a
broken worker is refused whole instead of overflowing the parent's int64
(and, for seq, int32) columns or the sums taken over them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: Either clock's instants in ns: perf_counter_ns since boot, time_ns since 1970 (to year 2116).
Instant = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
#: t3 - t2 (or a legacy agent's stated processing time): instants' differences.
Duration = Annotated[int, msgspec.Meta(ge=-(2**62), le=2**62)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=1e12)]


class Hello(msgspec.Struct, tag=True):
    """First frame: who the worker is and its clock anchor (wall_ns, perf_ns)."""

    platform: str
    pid: int
    anchor_wall_ns: Instant
    anchor_perf_ns: Instant
    anchor_uncertainty_ns: Instant
    sdk: dict[str, str] = {}


#: Bits of ``Samples.kernel``: which of a sample's stamps the kernel took.
KERNEL_T1, KERNEL_T2, KERNEL_T3, KERNEL_T4 = 1, 2, 4, 8


class Samples(msgspec.Struct, tag=True):
    """Matched pings. t1/t4/due are on the worker's perf_counter_ns timeline; t2/t3 the
    agent's wall ns (0 when a legacy agent sent none). ``processing_ns`` is t3-t2, or the
    legacy agent's server_send_time - server_receive_time.

    t1/t4 are the kernel's stamps where ``kernel`` has their bit (put on the perf
    timeline through the worker's anchor), else user-space ones; ``t1_user``/``t4_user``
    are always the user-space stamps, so user t4 - kernel t4 is the host's stack delay."""

    seq: list[Seq]
    due: list[Instant]
    t1: list[Instant]
    t4: list[Instant]
    t2: list[Instant]
    t3: list[Instant]
    processing_ns: list[Duration]
    t1_user: list[Instant] = []
    t4_user: list[Instant] = []
    kernel: list[Annotated[int, msgspec.Meta(ge=0, le=KERNEL_T1 | KERNEL_T2 | KERNEL_T3 | KERNEL_T4)]] = []

    def __post_init__(self) -> None:
        _same_lengths(self)


class Lost(msgspec.Struct, tag=True):
    """Measured pings whose pong did not come back within the timeout."""

    seq: list[Seq]
    due: list[Instant]
    t1: list[Instant]

    def __post_init__(self) -> None:
        _same_lengths(self)


class Event(msgspec.Struct, tag=True):
    """Something worth telling the user: connected, first malformed pong, error..."""

    kind: str
    detail: str = ""
    fatal: bool = False
    value: Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)] | None = None  # e.g. the connect time in ms for kind "connected"


class Done(msgspec.Struct, tag=True):
    """Last frame. ``counters`` holds late/duplicate/out_of_order/malformed/unknown."""

    sent: Count
    counters: dict[str, Count]
    partial: bool = False
    legacy_agent: bool = False
    cpu_s: Seconds = 0.0  # the worker's own CPU time (user + system), polling included
    measuring_cpu_s: Seconds = 0.0  # the part spent from the first ping on (imports and joining left out)
    peak_rss_kb: Count = 0  # the worker's own peak RSS since exec (VmHWM), 0 where the kernel does not say
    late_seqs: list[Seq] = []  # seqs whose pong came after the timeout (each also lost)
    duplicate_seqs: list[Seq] = []  # measured seqs answered more than once, once per extra pong
    #: Lost seqs whose direction the pongs' running counts tell (Session.lost_directions); the rest: unknown.
    lost_upstream: list[Seq] = []
    lost_downstream: list[Seq] = []


class TransportRtt(msgspec.Struct, tag=True):
    """The stack's own RTT as the worker read it in quiet windows (transports/transport_rtt.py), sent before
    Done: ``at`` is each reading's perf ns, ``figures`` each figure's seconds per reading (None: not in that one)."""

    source: str
    at: list[Instant] = []
    figures: dict[str, list[Annotated[float, msgspec.Meta(ge=0, le=1e6)] | None]] = {}


#: Samples' user-space and kernel columns: all of them or none (frames written before they existed).
_STAMP_COLUMNS = ("t1_user", "t4_user", "kernel")


def _same_lengths(frame: Samples | Lost) -> None:
    """Columns of one frame describe the same pings (on decode, msgspec turns this into a ValidationError)."""
    columns = {name: len(getattr(frame, name)) for name in frame.__struct_fields__}
    stamps = {columns.pop(name) for name in _STAMP_COLUMNS if name in columns}
    lengths = set(columns.values())
    if len(lengths) > 1 or len(stamps) > 1 or not stamps <= lengths | {0}:
        raise ValueError(f"{type(frame).__name__} columns of different lengths {sorted(lengths | stamps)}")


Frame = Hello | Samples | Lost | Event | Done | TransportRtt

ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(Frame)


def encode(frame: Frame) -> bytes:
    return ENCODER.encode(frame)


def decode(data: bytes) -> Frame:
    return DECODER.decode(data)
