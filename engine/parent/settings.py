"""What the user asked for and what the parent learns of each platform before its worker starts.

The supervision reads them to run; the result builder copies them into metadata so a
result explains itself. Both read this module: it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.parent.analysis.offset import ClockMode


@dataclass(frozen=True)
class RunSettings:
    """What the user asked for; copied into metadata so a result explains itself."""

    run_id: str
    iterations: int
    timeout_ms: float
    cooldown_ms: float
    warmup: int
    payload_bytes: int
    location_id: str
    reliable: bool = True
    clock_mode: str = "auto"
    busy_poll_us: int = 0
    #: --duration as asked (iterations then come from it), and --pin.
    duration_s: float | None = None
    pin: bool = False
    impair: str | None = None  # an impairment proxy's spec (udp and webrtc), and where it logs the truth
    impair_log: str | None = None
    clock_source: str = "auto"  # where this host's clock bound is read (ipc.clocks.discipline)


@dataclass
class PlatformContext:
    """What the parent knows of one platform besides the worker's frames."""

    agent_url: str | None
    clock_mode: ClockMode
    agent: dict[str, Any] = field(default_factory=dict)
    #: Its offset in the shared send grid and its core (engine.parent.supervision.placement); notes go to its warnings.
    phase_ns: int = 0
    cpu: int | None = None
    notes: list[str] = field(default_factory=list)
    impairment: dict[str, Any] | None = None
    room_url: str | None = None
    #: The agent's own transport RTT readings, from its /disconnect reply (engine/parent/analysis/breakdown.py).
    agent_transport_rtt: dict[str, Any] | None = None
    #: From /disconnect: the seqs the agent's echo received (sorted inclusive ranges) and whether it kept them all.
    agent_received: tuple[list[tuple[int, int]], bool] | None = None
    #: The runner's and the agent's clock bounds added, the larger of start and end (ms); None: a host gave none.
    clock_bound_ms: float | None = None
    #: Each host's clock readings: {"runner": {"start", "end"}, "agent": {"start", "end"}} (ipc.clocks.discipline).
    clock_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
