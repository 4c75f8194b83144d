"""Tail excess through the impairment proxy: what the engine adds to a known delay, at the 99th percentile.

Two udp runs through ``--impair``, 1,000 pings at 100/s each, against the
suite's agent: 5 ms each way, then zero delay. The truth of a ping is how long
the proxy held it and its pong (its log: kernel arrival to departure). The
excess is the engine's RTT p99 minus the p99 of that truth: the wire, the agent
and both ends of the engine, at the tail. The reference is the proxy's own
hold at zero delay in the same run: what a user of ``--impair`` gets on top of
the delay asked for. Information only until a target is set.

    uv run python -m perf.impair     this section alone, with its own agent
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.impair.truth import legs, read_truth
from engine.parent.embedded_agent import EmbeddedAgent
from engine.parent.results import RunSettings
from engine.parent.runner import new_run_id, run_benchmark
from perf import PerfError, report

RATE = 100
SPECS = {"five": "delay=5", "zero": "delay=0"}


def _through_proxy(url: str, spec: str, pings: int, folder: Path) -> dict[str, float]:
    log = folder / f"{new_run_id()}.truth.jsonl"
    settings = RunSettings(
        run_id=new_run_id(),
        iterations=pings,
        timeout_ms=2000.0,
        cooldown_ms=1000 / RATE,
        warmup=20,
        payload_bytes=0,
        location_id="perf",
        impair=spec,
        impair_log=str(log),
    )
    outcome = run_benchmark(["udp"], {"udp": url}, settings, log_level=logging.WARNING)
    result = outcome.per_platform["udp"]
    if outcome.errors or result.statistics.successful_messages != pings:
        raise PerfError(f"impair ({spec}): {'; '.join(outcome.errors) or 'pings lost on a lossless path'}")
    truth = legs(read_truth(log)[1])
    measured = [truth[seq] for seq in range(settings.warmup + 1, settings.warmup + pings + 1)]
    held = np.array([up + down for up, _, down in measured]) / 1e6
    return {
        "engine_p99_ms": result.statistics.p99_rtt,
        "truth_p99_ms": float(np.percentile(held, 99, method="inverted_cdf")),
        "held_p50_ms": float(np.median(held)),
    }


def run(url: str, say: Callable[[str], None], pings: int = 1000) -> dict[str, Any]:
    out: dict[str, Any] = {"pings": pings}
    with tempfile.TemporaryDirectory() as folder:
        for name, spec in SPECS.items():
            say(f"  impair: {pings} udp pings at {RATE}/s through the proxy, {spec}")
            out[name] = _through_proxy(url, spec, pings, Path(folder))
    return out


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    five, zero = data["five"], data["zero"]
    excess_us = (five["engine_p99_ms"] - five["truth_p99_ms"]) * 1e3
    own_us = zero["truth_p99_ms"] * 1e3
    return [
        report.row(
            f"tail excess through the proxy, 5 ms each way, {data['pings']:,} pings at {RATE}/s: engine p99 − "
            "truth p99, vs the proxy's own p99 at 0 ms (µs)",
            excess_us,
            reference=own_us,
            ratio=excess_us / own_us if own_us else None,
        ),
        report.row(
            "  proxy's own hold, both ways, at 0 ms: p50, vs its p99 (µs)",
            zero["held_p50_ms"] * 1e3,
            reference=own_us,
        ),
        report.row(
            "  proxy's hold beyond the 10 ms asked: p50, vs its p99 (µs)",
            (five["held_p50_ms"] - 10.0) * 1e3,
            reference=(five["truth_p99_ms"] - 10.0) * 1e3,
        ),
    ]


if __name__ == "__main__":
    with EmbeddedAgent() as agent_url:
        table = rows(run(agent_url, lambda msg: print(msg, file=sys.stderr, flush=True)))
    print(report.render(table))
