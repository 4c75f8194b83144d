"""Frames a worker sends its parent: a msgspec tagged union, encoded as msgpack.

Samples travel column-wise (one list per field) because msgpack encodes a list
of ints far faster than a list of small structs, and the parent appends whole
columns to its arrays.
"""

from __future__ import annotations

import msgspec


class Hello(msgspec.Struct, tag=True):
    """First frame: who the worker is and its clock anchor (wall_ns, perf_ns)."""

    platform: str
    pid: int
    anchor_wall_ns: int
    anchor_perf_ns: int
    anchor_uncertainty_ns: int
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

    seq: list[int]
    due: list[int]
    t1: list[int]
    t4: list[int]
    t2: list[int]
    t3: list[int]
    processing_ns: list[int]
    t1_user: list[int] = []
    t4_user: list[int] = []
    kernel: list[int] = []


class Lost(msgspec.Struct, tag=True):
    """Measured pings whose pong did not come back within the timeout."""

    seq: list[int]
    due: list[int]
    t1: list[int]


class Event(msgspec.Struct, tag=True):
    """Something worth telling the user: connected, first malformed pong, error..."""

    kind: str
    detail: str = ""
    fatal: bool = False
    value: float | None = None  # e.g. the connect time in ms for kind "connected"


class Done(msgspec.Struct, tag=True):
    """Last frame. ``counters`` holds late/duplicate/out_of_order/malformed/unknown."""

    sent: int
    counters: dict[str, int]
    partial: bool = False
    legacy_agent: bool = False
    cpu_s: float = 0.0  # the worker's own CPU time (user + system), polling included
    measuring_cpu_s: float = 0.0  # the part spent from the first ping on (imports and joining left out)
    peak_rss_kb: int = 0  # the worker's own peak RSS since exec (VmHWM), 0 where the kernel does not say
    late_seqs: list[int] = []  # seqs whose pong came after the timeout (each also lost)


Frame = Hello | Samples | Lost | Event | Done

ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(Frame)


def encode(frame: Frame) -> bytes:
    return ENCODER.encode(frame)


def decode(data: bytes) -> Frame:
    return DECODER.decode(data)
