"""Where the time goes: a platform's RTT split into the wire and the endpoints.

The wire is what the stack itself measures of the path (transports/transport_rtt.py):
on udp the kernel-stamped network RTT, on webrtc the ICE STUN round trip, on an
SFU platform (LiveKit, Daily) the runner↔SFU leg plus the SFU↔agent leg, each
read by its own side (the agent returns its side in /disconnect). The endpoints'
share is the application RTT p50 minus the wire's p50: SDKs, SFU forwarding and
the agent. A figure that is missing stays missing, with the reason in the warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ipc.frames import TransportRtt

#: udp's wire, when the kernel stamped t1..t4: the network RTT (t4 − t1 − (t3 − t2)).
KERNEL_SOURCE = "kernel stamps (network RTT)"


@dataclass
class Breakdown:
    """Statistics (ms) and metadata of one platform's split; p50/p99 None where the wire is missing."""

    p50: float | None = None
    p99: float | None = None
    endpoints_p50: float | None = None
    source: str | None = None
    #: Per side ("runner", "agent"), per figure: readings, p50 and p99 in ms.
    sides: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None


def side_figures(figures: dict[str, list[float | None]]) -> dict[str, dict[str, Any]]:
    """Each figure's readings, p50 and p99 in ms (readings in seconds, None where one lacked it)."""
    out = {}
    for name, column in figures.items():
        values = np.array([v for v in column if v is not None], dtype=np.float64) * 1e3
        if len(values):
            p50, p99 = np.percentile(values, [50.0, 99.0]).tolist()
            out[name] = {"readings": len(values), "p50": round(p50, 3), "p99": round(p99, 3)}
    return out


def of_side(frame: TransportRtt | dict[str, Any] | None) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """(source, figures) of the worker's frame or the agent's /disconnect ``transport_rtt``."""
    if frame is None:
        return None, {}
    if isinstance(frame, TransportRtt):
        return frame.source, side_figures(frame.figures)
    figures = frame.get("figures")
    source = frame.get("source")
    if not isinstance(figures, dict) or not isinstance(source, str):
        return None, {}
    return source, side_figures({k: v for k, v in figures.items() if isinstance(v, list)})


def breakdown(
    *,
    app_p50: float | None,
    relayed: bool,
    runner: TransportRtt | None,
    agent: dict[str, Any] | None,
    kernel_network: tuple[float | None, float | None] | None = None,
) -> Breakdown:
    """The split of one platform's RTT p50.

    ``kernel_network``: udp's (p50, p99) network RTT when all four stamps are the kernel's. ``relayed``: the
    path crosses an SFU, so the wire is the runner's leg plus the agent's; on a direct path (webrtc) the
    agent's reading measures the same path again and is kept beside it only.
    """
    if kernel_network is not None:
        p50, p99 = kernel_network
        result = Breakdown(p50, p99, source=KERNEL_SOURCE)
    else:
        result = _from_stacks(relayed, runner, agent)
    if result.p50 is not None and app_p50 is not None:
        result.endpoints_p50 = round(app_p50 - result.p50, 3)
    return result


def _from_stacks(relayed: bool, runner: TransportRtt | None, agent: dict[str, Any] | None) -> Breakdown:
    runner_source, runner_figures = of_side(runner)
    _, agent_figures = of_side(agent)
    sides = {name: f for name, f in (("runner", runner_figures), ("agent", agent_figures)) if f}
    result = Breakdown(sides=sides)
    if runner is None or runner.source == "none":
        result.missing = "this platform's stack gives no RTT of its own"
    elif "wire" not in runner_figures:
        result.missing = f"{runner_source} gave no reading during the run"
    elif relayed and "wire" not in agent_figures:
        result.missing = "the agent's leg (SFU↔agent) is missing: an agent of this version returns it in /disconnect"
    if result.missing:
        return result
    legs = [runner_figures["wire"], *([agent_figures["wire"]] if relayed else [])]
    # Two legs read at different instants cannot be paired reading by reading: each leg's percentile is
    # added (the p50s' sum is the typical wire; the p99s' sum an upper bound of the wire's p99).
    result.p50 = round(sum(leg["p50"] for leg in legs), 3)
    result.p99 = round(sum(leg["p99"] for leg in legs), 3)
    result.source = f"{runner_source}: runner↔SFU + SFU↔agent" if relayed else runner_source
    return result
