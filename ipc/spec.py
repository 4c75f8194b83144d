"""What a worker is asked to do: sent by the parent as msgpack on the worker's stdin."""

from __future__ import annotations

import logging
from typing import Any

import msgspec


class WorkerSpec(msgspec.Struct, frozen=True):
    """Everything a worker needs; nothing in it needs the parent's code to decode."""

    platform: str
    credentials: dict[str, Any]
    run_id: str
    iterations: int
    warmup: int
    interval_ns: int
    timeout_ns: int
    payload_bytes: int
    reliable: bool = True
    connect_timeout_s: float = 30.0
    # Sample batches go to the parent every 50 ms: at 10 ms the parent's extra wake-ups
    # showed up in the RTT p99 on a 2-core machine (perf/), at 50 ms they do not.
    flush_interval_s: float = 0.05
    busy_poll_ns: int = 0
    log_level: int = logging.WARNING
    #: Pings go out at instants ≡ phase_ns (mod interval_ns) on CLOCK_MONOTONIC, shared by every worker on the
    #: host, so concurrent platforms never send in the same instant; None pins nothing (cpu is a core number).
    phase_ns: int = 0
    cpu: int | None = None


def encode(spec: WorkerSpec) -> bytes:
    return msgspec.msgpack.encode(spec)


def decode(data: bytes) -> WorkerSpec:
    return msgspec.msgpack.decode(data, type=WorkerSpec)
