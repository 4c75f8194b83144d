"""Tail excess through the impairment proxy: what the engine adds to a known delay, at the 99th percentile.

Three udp runs through ``--impair``, 1,000 pings at 100/s each, against the
suite's agent: 5 ms each way with kernel stamps, the same with the runner's
stamps taken in user space (``RTC_BENCH_USER_STAMPS``), then zero delay. The
truth of a ping is how long the proxy held it and its pong (its log: kernel
arrival to departure). The excess is the engine's network RTT p99 (RTT minus
the agent's t3 − t2, the part a network is answerable for) minus the p99 of
that truth: the loopback hops and the stamps of both ends, at the tail; the
targets are 100 µs with kernel stamps and 150 µs with user ones. The excess of
the whole RTT, the echo's answer time included, is shown beside it. The
reference is the proxy's own hold at zero delay in the same run: what a user
of ``--impair`` gets on top of the delay asked for.

    uv run python -m perf.impair     this section alone, with its own agent
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.impair.truth import legs, read_truth
from engine.parent.settings import RunSettings
from engine.parent.supervision.embedded_agent import EmbeddedAgent
from engine.parent.supervision.runner import new_run_id, run_benchmark
from perf import PerfError, report
from transports import kernel_stamps

RATE = 100
#: name -> (impairment, runner stamps in user space)
SPECS = {"five": ("delay=5", False), "five_user": ("delay=5", True), "zero": ("delay=0", False)}
#: Network RTT p99 over the truth's, in µs, with kernel and with user-space stamps (the issue's targets).
TARGET_EXCESS_US = {"five": 100.0, "five_user": 150.0}


def _through_proxy(url: str, spec: str, pings: int, folder: Path, user_stamps: bool) -> dict[str, float]:
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
    with _stamps_in_user_space(user_stamps):  # read by the worker this spawns; the agent's t2 stays as it is
        outcome = run_benchmark(["udp"], {"udp": url}, settings, log_level=logging.WARNING)
    result = outcome.per_platform["udp"]
    if outcome.errors or result.statistics.successful_messages != pings:
        raise PerfError(f"impair ({spec}): {'; '.join(outcome.errors) or 'pings lost on a lossless path'}")
    truth = legs(read_truth(log)[1])
    measured = [truth[seq] for seq in range(settings.warmup + 1, settings.warmup + pings + 1)]
    held = np.array([up + down for up, _, down in measured]) / 1e6
    network = result.measurements.column("network_rtt")
    return {
        "engine_p99_ms": result.statistics.p99_rtt,
        "network_p99_ms": float(np.percentile(network, 99, method="inverted_cdf")),
        "truth_p99_ms": float(np.percentile(held, 99, method="inverted_cdf")),
        "held_p50_ms": float(np.median(held)),
    }


@contextlib.contextmanager
def _stamps_in_user_space(on: bool) -> Iterator[None]:
    saved = os.environ.get(kernel_stamps.FORCE_USER_ENV)
    if on:
        os.environ[kernel_stamps.FORCE_USER_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(kernel_stamps.FORCE_USER_ENV, None)
        else:
            os.environ[kernel_stamps.FORCE_USER_ENV] = saved


def run(url: str, say: Callable[[str], None], pings: int = 1000) -> dict[str, Any]:
    out: dict[str, Any] = {"pings": pings}
    with tempfile.TemporaryDirectory() as folder:
        for name, (spec, user_stamps) in SPECS.items():
            stamps = "user-space" if user_stamps else "kernel"
            say(f"  impair: {pings} udp pings at {RATE}/s through the proxy, {spec}, {stamps} stamps")
            out[name] = _through_proxy(url, spec, pings, Path(folder), user_stamps)
    return out


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    five, zero = data["five"], data["zero"]
    own_us = zero["truth_p99_ms"] * 1e3
    out = []
    for name, stamps in (("five", "kernel"), ("five_user", "user-space")):
        if name not in data:  # a report from before the user-stamps run
            continue
        d = data[name]
        excess_us = (d["network_p99_ms"] - d["truth_p99_ms"]) * 1e3
        out.append(
            report.row(
                f"tail excess through the proxy, 5 ms each way, {data['pings']:,} pings at {RATE}/s, {stamps} stamps: "
                "network RTT p99 − truth p99, vs the proxy's own p99 at 0 ms (µs)",
                excess_us,
                reference=own_us,
                ratio=excess_us / own_us if own_us else None,
                target=TARGET_EXCESS_US[name],
                target_on="measured",
            )
        )
    out += [
        report.row(
            "  the same for the whole RTT (the echo's answer time included), kernel stamps (µs)",
            (five["engine_p99_ms"] - five["truth_p99_ms"]) * 1e3,
            reference=own_us,
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
    return out


if __name__ == "__main__":
    with EmbeddedAgent() as agent_url:
        table = rows(run(agent_url, lambda msg: print(msg, file=sys.stderr, flush=True)))
    print(report.render(table))
