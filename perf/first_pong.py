"""Time to first pong: from starting an embedded agent to the first pong back, webrtc against udp.

What a user waits for with ``benchmark-runner --platform webrtc`` and no
``--agent-url``, from ``run_benchmark``'s call: the worker starts and loads
its SDK while the agent process starts and the runner handshakes over HTTP;
then the worker connects (ICE, DTLS, SCTP for webrtc) and its first ping
comes back. The reference is the same path for ``udp``, measured
in the same run, which has no connection setup of its own: the ratio is what
WebRTC's setup costs over the runner's fixed start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from engine.parent.settings import RunSettings
from engine.parent.supervision.runner import new_run_id, run_benchmark
from perf import PerfError, report

PLATFORMS = ("udp", "webrtc")
PINGS = 20
#: Seconds from agent start to the first pong a user may wait, per platform.
TARGET_S = {"udp": 0.35, "webrtc": 1.0}


def _time_to_first_pong(platform: str) -> dict[str, Any]:
    """Seconds from agent start to the first pong's receive instant, with the parts we know."""
    settings = RunSettings(
        run_id=new_run_id(),
        iterations=PINGS,
        timeout_ms=2000.0,
        cooldown_ms=5.0,
        warmup=0,
        payload_bytes=0,
        location_id="perf",
    )
    t0 = time.time()
    outcome = run_benchmark([platform], {}, settings, connect_timeout_s=30.0, log_level=logging.WARNING)
    result = outcome.per_platform[platform]
    if outcome.errors or not len(result.measurements):
        raise PerfError(f"first pong ({platform}): {'; '.join(outcome.errors) or 'no pong came back'}")
    first = result.measurements[0]  # seq 1: warmup is 0, and rows are in seq order
    pong_at = first["timestamp"] + first["round_trip_time"] / 1e3
    return {
        "first_pong_s": pong_at - t0,
        "connect_s": result.metadata.connect_time_ms / 1e3,
        "first_rtt_ms": first["round_trip_time"],
    }


def run(say: Callable[[str], None]) -> dict[str, Any]:
    out = {}
    for platform in PLATFORMS:
        say(f"  first pong: {platform} with an embedded agent")
        out[platform] = _time_to_first_pong(platform)
    return out


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """webrtc's time to first pong against udp's; the parts (agent start, connect) as information."""
    web, udp = data["webrtc"], data["udp"]
    return [
        report.row(
            "time to first pong, webrtc / udp, embedded agent (s)",
            web["first_pong_s"],
            reference=udp["first_pong_s"],
            ratio=web["first_pong_s"] / udp["first_pong_s"],
            ratio_name="first_pong_webrtc_vs_udp",
        ),
        *(
            report.row(f"time to first pong, {p}, embedded agent (s)", data[p]["first_pong_s"], target=TARGET_S[p])
            for p in PLATFORMS
        ),
        report.row("  of which transport connect, webrtc / udp (s)", web["connect_s"], reference=udp["connect_s"]),
    ]
