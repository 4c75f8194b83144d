"""The kernel's own view of its clock (``adjtimex`` with modes = 0: reads only, needs no privilege).

Whoever disciplines the clock (chronyd, ntpd, ptp4l) keeps ``maxerror`` (the kernel's bound, µs, grown by
500 µs a second between updates) and clears STA_UNSYNC; nothing disciplining it leaves STA_UNSYNC set and
``maxerror`` at 16 s, "unknown": then there is no bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (Linux, 64-bit longs); ctypes lays out its padding as the C compiler does."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def read() -> dict[str, Any]:
    """``Reading`` fields: the bound is ``maxerror`` while the clock is synchronised, else none and why."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    tx = Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        return {"why": f"adjtimex failed: errno {ctypes.get_errno()}"}
    raw = {"state": state, "status": tx.status, "maxerror_us": tx.maxerror, "esterror_us": tx.esterror}
    if tx.status & STA_UNSYNC or state == TIME_ERROR:
        return {"why": "the kernel says its clock is unsynchronised (STA_UNSYNC): nothing disciplines it", "raw": raw}
    return {"bound_ms": tx.maxerror / 1e3, "raw": raw}
