"""AWS ClockBound's shared-memory segment, protocol version 2 (aws/clock-bound, docs/PROTOCOL.md).

Native-endian, 80 bytes: magic (8), segment size (u32), version (u16), generation (u16, odd while the
daemon writes), as-of and void-after (timespec i64 s + i64 ns, CLOCK_MONOTONIC_COARSE), bound (i64 ns,
at as-of), disruption marker (u64), max drift (u32 ppb), clock status (i32), disruption support (u8).
Read by hand (no ClockBound client library on PyPI reads v2 without its daemon's native library):
the bound now is the bound at as-of plus max drift × (now − as-of); a reading past void-after is refused.
"""

from __future__ import annotations

import os
import struct
import time
from typing import Any

DEFAULT_PATH = "/var/run/clockbound/shm0"
MAGIC = bytes((0x41, 0x4D, 0x5A, 0x4E, 0x43, 0x42, 0x02, 0x00))
VERSION = 2
LAYOUT = struct.Struct("=8sIHHqqqqqQIiB7x")
STATUS = {0: "unknown", 1: "synchronized", 2: "free-running", 3: "disrupted"}
#: Linux's clock id (<linux/time.h>); Python's time module does not name it.
CLOCK_MONOTONIC_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", 6)
#: Reads of a segment being written (odd generation) before giving up on it.
RETRIES = 100


def read(path: str) -> dict[str, Any]:
    """``Reading`` fields from the segment at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return {"why": f"no ClockBound segment at {path}: {exc.strerror}"}
    try:
        for _ in range(RETRIES):
            first = os.pread(fd, LAYOUT.size, 0)
            if len(first) < LAYOUT.size:
                return {"why": f"{path} holds {len(first)} bytes, not a ClockBound v2 segment"}
            fields = LAYOUT.unpack(first)
            generation = fields[3]
            if generation % 2 == 0 and LAYOUT.unpack(os.pread(fd, LAYOUT.size, 0))[3] == generation:
                return _figures(fields, path, time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE))
        return {"why": f"{path} was being written through {RETRIES} reads (odd generation)"}
    finally:
        os.close(fd)


def _figures(fields: tuple, path: str, now_ns: int) -> dict[str, Any]:
    magic, size, version, generation, as_of_s, as_of_ns, void_s, void_ns, bound_ns, _, drift_ppb, status, _ = fields
    if magic != MAGIC or version != VERSION:
        return {"why": f"{path} is not a ClockBound v2 segment (magic {magic.hex()}, version {version})"}
    as_of, void_after = as_of_s * 10**9 + as_of_ns, void_s * 10**9 + void_ns
    name = STATUS.get(status, f"status {status}")
    raw = {
        "path": path,
        "generation": generation,
        "bound_at_as_of_ns": bound_ns,
        "max_drift_ppb": drift_ppb,
        "status": name,
        "age_s": round((now_ns - as_of) / 1e9, 6),
    }
    if now_ns > void_after:
        return {"why": f"ClockBound's reading is void since {(now_ns - void_after) / 1e9:.3f} s", "raw": raw}
    if name not in ("synchronized", "free-running"):
        return {"why": f"ClockBound says the clock is {name}", "raw": raw}
    grown = bound_ns + drift_ppb * max(0, now_ns - as_of) / 1e9
    return {"bound_ms": grown / 1e6, "raw": raw}
