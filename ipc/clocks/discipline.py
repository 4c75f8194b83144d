"""How far this host's CLOCK_REALTIME may be from true time, read from its own clock discipline.

One reading per call, for the runner (at the run's start and end) and the agent (/connect, /disconnect):
the bound (ms) and the source's raw figures, so a result shows where its bound came from. Sources, as
``--clock-source`` names them: ``clockbound[:PATH]`` (AWS ClockBound's shared memory), ``chrony[:HOST:PORT]``
(``chronyc -c tracking``), ``adjtimex`` (the kernel's own view), ``none``; ``auto`` takes the first present,
in that order. A source that is present but cannot bound the clock (unsynchronised, a stale reading)
says why instead of giving a bound.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from ipc.clocks import adjtimex, chrony, clockbound
from ipc.errors import BenchError

ENV = "RTC_BENCH_CLOCK_SOURCE"
KINDS = ("auto", "clockbound", "chrony", "adjtimex", "none")
METAVAR = "auto|clockbound[:PATH]|chrony[:HOST:PORT]|adjtimex|none"


class Reading(msgspec.Struct, omit_defaults=True):
    """``bound_ms``: |this clock − true time| is at most this, or None with ``why`` saying what is missing."""

    source: str
    bound_ms: float | None = None
    why: str = ""
    raw: dict[str, Any] = {}


def parse(spec: str) -> tuple[str, str]:
    """``KIND[:ARG]`` checked: (kind, arg); ``BenchError`` names what is wrong."""
    kind, _, arg = spec.strip().partition(":")
    if kind not in KINDS:
        raise BenchError(f"--clock-source {spec!r}: expected one of {', '.join(KINDS)} (clockbound[:PATH], chrony[:HOST:PORT])")
    if arg and kind not in ("clockbound", "chrony"):
        raise BenchError(f"--clock-source {spec!r}: {kind} takes no argument")
    if kind == "chrony" and arg:
        host, _, port = arg.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BenchError(f"--clock-source {spec!r}: expected chrony:HOST:PORT (chronyc's command port)")
    return kind, arg


def from_env(flag: str | None) -> str:
    """The flag's value, else ``RTC_BENCH_CLOCK_SOURCE``, else auto; checked."""
    spec = flag or os.environ.get(ENV, "").strip() or "auto"
    parse(spec)
    return spec


def read(spec: str) -> Reading:
    """One reading of the source ``spec`` names (already checked by ``parse``)."""
    kind, arg = parse(spec)
    if kind == "none":
        return Reading("none", why="no clock source asked for (--clock-source none)")
    if kind == "clockbound":
        return Reading("clockbound", **clockbound.read(arg or clockbound.DEFAULT_PATH))
    if kind == "chrony":
        return Reading("chrony", **chrony.read(arg or None))
    if kind == "adjtimex":
        return Reading("adjtimex", **adjtimex.read())
    return read_auto()


def read_auto() -> Reading:
    """ClockBound when its segment exists, else chrony when chronyc answers, else the kernel's adjtimex."""
    if os.path.exists(clockbound.DEFAULT_PATH):
        return Reading("clockbound", **clockbound.read(clockbound.DEFAULT_PATH))
    figures = chrony.read(None)
    if figures.get("raw"):  # chronyd answered: its word, bound or not
        return Reading("chrony", **figures)
    return Reading("adjtimex", **adjtimex.read())


def as_dict(reading: Reading) -> dict[str, Any]:
    return msgspec.to_builtins(reading)
