"""Each direction on its own, against the impairment proxy's truth log: which way every lost ping died.

Real runner, agent and proxy processes on 127.0.0.1 (``benchmark-runner --platform udp --impair SPEC``);
the log says, for every datagram, whether the proxy dropped it on the way out or on the way back.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.impair.truth import Packet
from engine.parent.analysis.directions import variation
from tests.agent_stub import StubAgent, modern
from tests.impair_truth import per_ping, run_through_proxy

WARMUP, ITERATIONS = 5, 400


def truth_directions(packets: list[Packet], lost: list[int]) -> dict[int, str]:
    """Per lost seq: upstream when no copy of the ping left the proxy, else downstream."""
    reached = {p.seq for p in packets if p.dir == "up" and p.seq is not None and p.departure_ns is not None}
    return {seq: "downstream" if seq in reached else "upstream" for seq in lost}


def lost_by_direction(result: dict) -> dict[int, str]:
    return {entry["message_number"] + WARMUP: entry["direction"] for entry in result["lost"]}


def truth_lost(packets: list[Packet]) -> set[int]:
    """Measured seqs whose pong never left the proxy (no reorder or delay near the timeout here)."""
    answered = {p.seq for p in packets if p.dir == "down" and p.seq is not None and p.departure_ns is not None}
    return set(range(WARMUP + 1, WARMUP + ITERATIONS + 1)) - answered


@pytest.mark.parametrize(
    ("name", "spec", "ways"),
    [
        ("up", "up.loss=5%,seed=3", {"upstream"}),
        ("down", "down.loss=5%,seed=4", {"downstream"}),
        ("both", "loss=5%,seed=5", {"upstream", "downstream"}),
    ],
)
def test_every_loss_has_the_direction_the_proxy_dropped_it_in(tmp_path, name, spec, ways):
    r, packets = run_through_proxy(tmp_path, name, spec, "--cooldown", "5", iterations=ITERATIONS, warmup=WARMUP)
    got = lost_by_direction(r)
    assert set(got) == truth_lost(packets)  # the same pings
    assert got == truth_directions(packets, list(got))
    assert set(got.values()) == ways
    s = r["statistics"]
    assert s["lost_upstream"] + s["lost_downstream"] + s["lost_unknown_direction"] == s["failed_messages"] > 5
    assert s["lost_unknown_direction"] == 0
    assert s["lost_upstream"] == sum(way == "upstream" for way in got.values())


def dropping(data: bytes, t2: int) -> list[bytes]:
    """An agent of ours from before the running count (no ``received``, no final set) that never answers every 10th ping."""
    return [] if json.loads(data)["seq"] % 10 == 0 else modern(data, t2)


def test_an_agent_that_keeps_no_record_leaves_every_direction_unknown(cli, tmp_path):
    with StubAgent(dropping) as agent:
        proc = cli("--platform", "udp", "--agent-url", agent.url, "--iterations", "50", "--warmup", "0",
                   "--cooldown", "2", "--timeout", "200", "--output", "out.json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "out.json").read_text())
    s = r["statistics"]
    assert s["failed_messages"] == s["lost_unknown_direction"] == 5
    assert s["lost_upstream"] == s["lost_downstream"] == 0
    assert [(e["message_number"], e["direction"]) for e in r["lost"]] == [(n, "unknown") for n in range(10, 51, 10)]


def test_each_directions_delay_variation_is_the_proxys_and_a_constant_direction_has_none(tmp_path):
    """Uniform 2–8 ms up, a constant 5 ms down; the agent's clock plays no part (estimate mode, too)."""
    r, packets = run_through_proxy(
        tmp_path, "jitter", "up.delay=uniform:2:8,down.delay=5,seed=12", "--cooldown", "5", "--clock-mode", "estimate",
        iterations=1000, warmup=WARMUP,
    )  # fmt: skip
    x = per_ping(r, packets)
    s = r["statistics"]
    held = x["hold_up"]  # seq order, as the engine's
    assert s["jitter_upstream"] == pytest.approx(np.abs(np.diff(held)).mean(), rel=0.10)
    for p in (50, 95, 99):
        truth = np.percentile(held - held.min(), p, method="inverted_cdf")
        assert s[f"owd_variation_upstream_p{p}"] == pytest.approx(truth, rel=0.10)
    # Near zero: what the wire, the agent and both hosts' scheduling add to a constant hold (tens of µs on
    # loopback, a busy shared machine's wake-ups now and then): under a tenth of the upstream figures.
    assert s["jitter_downstream"] < 0.1 * s["jitter_upstream"]
    assert s["owd_variation_downstream_p50"] < 0.1 * s["owd_variation_upstream_p50"]
    assert s["jitter_rfc3550_downstream"] < 0.1 * s["jitter_rfc3550_upstream"]


def test_variation_is_the_delay_above_its_minimum_and_ipdv_its_steps():
    got = variation(np.array([3, 1, 2, 5], dtype=np.int64) * 1_000_000)
    assert got["jitter"] == pytest.approx((2 + 1 + 3) / 3)
    assert (got["p50"], got["p95"], got["p99"]) == (1.0, 4.0, 4.0)
    assert variation(np.zeros(0, np.int64)) == {"jitter": None, "jitter_rfc3550": None, "p50": None, "p95": None, "p99": None}
