"""Each direction on its own, against the impairment proxy's truth log: which way every lost ping died.

Real runner, agent and proxy processes on 127.0.0.1 (``benchmark-runner --platform udp|webrtc --impair
SPEC``); the log says, for every datagram, whether the proxy dropped it on the way out or on the way back.
On webrtc the datagrams are DTLS records with no seq: tests/impair_truth.py finds the pings' and pongs'
datagrams by size, order and due instant, and checks that finding as it goes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.impair.truth import Packet
from engine.parent.analysis.directions import variation
from tests.agent_stub import StubAgent, modern
from tests.impair_truth import (
    per_ping,
    run_through_proxy,
    webrtc_first_copies,
    webrtc_ping_datagrams,
    webrtc_pong_datagrams,
)

WARMUP, ITERATIONS, COOLDOWN_MS = 5, 400, 5
#: A webrtc ping's payload (bytes): longer than any SCTP control chunk or STUN check, shorter than a pong.
PAD = "160"
LOSSES = [
    ("up", "up.loss=5%,seed=3", {"upstream"}),
    ("down", "down.loss=5%,seed=4", {"downstream"}),
    ("both", "loss=5%,seed=5", {"upstream", "downstream"}),
]


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


def assert_directions_add_up(r: dict, got: dict[int, str], ways: set[str]) -> None:
    assert set(got.values()) == ways
    s = r["statistics"]
    assert s["lost_upstream"] + s["lost_downstream"] + s["lost_unknown_direction"] == s["failed_messages"] > 5
    assert s["lost_unknown_direction"] == 0
    assert s["lost_upstream"] == sum(way == "upstream" for way in got.values())


@pytest.mark.parametrize(("name", "spec", "ways"), LOSSES)
def test_every_loss_has_the_direction_the_proxy_dropped_it_in(tmp_path, name, spec, ways):
    r, packets = run_through_proxy(tmp_path, name, spec, "--cooldown", "5", iterations=ITERATIONS, warmup=WARMUP)
    got = lost_by_direction(r)
    assert set(got) == truth_lost(packets)  # the same pings
    assert got == truth_directions(packets, list(got))
    assert_directions_add_up(r, got, ways)


@pytest.mark.parametrize(("name", "spec", "ways"), LOSSES)
def test_on_unreliable_webrtc_every_loss_has_the_direction_the_proxy_dropped_it_in(tmp_path, name, spec, ways):
    """``--unreliable``: no resends, so a ping or pong the proxy drops is lost, and each ping is one datagram.

    The spec drops SACKs, FORWARD-TSNs and STUN checks too (it cannot aim at data); without resends they
    decide no ping's fate. The truth per ping: its datagram dropped → upstream; its pong's → downstream.
    """
    r, packets = run_through_proxy(
        tmp_path, name, spec, "--cooldown", str(COOLDOWN_MS), "--timeout", "1000", "--unreliable",
        "--payload-bytes", PAD, iterations=ITERATIONS, warmup=WARMUP, platform="webrtc",
    )  # fmt: skip
    pings = webrtc_ping_datagrams(r, packets)
    assert len(pings) == WARMUP + ITERATIONS  # one datagram each: nothing resent
    pongs = webrtc_pong_datagrams(packets, pings)
    truth = {}
    for seq, ping in webrtc_first_copies(r, pings).items():
        if ping.fate == "dropped":
            truth[seq] = "upstream"
        elif pongs[ping.index].fate == "dropped":
            truth[seq] = "downstream"
        else:
            assert pongs[ping.index].fate == "delivered"
    got = lost_by_direction(r)
    assert got == truth  # the same pings, each in its direction
    assert_directions_add_up(r, got, ways)


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


def test_each_directions_delay_variation_is_the_proxys_and_a_constant_direction_has_next_to_none(tmp_path):
    """Uniform 2–8 ms up, a constant 5 ms down; the agent's clock plays no part (estimate mode, too)."""
    r, packets = run_through_proxy(
        tmp_path, "jitter", "up.delay=uniform:2:8,down.delay=5,seed=12", "--cooldown", "5", "--clock-mode", "estimate",
        iterations=1000, warmup=WARMUP,
    )  # fmt: skip
    x = per_ping(r, packets)
    assert_variation_is_the_proxys(r["statistics"], x["hold_up"], x["hold_down"], rel=0.10)


def rfc3550(held: np.ndarray) -> float:
    """RFC 3550's running jitter after the last step: J += (|D| − J) / 16."""
    j = 0.0
    for step in np.abs(np.diff(held)):
        j += (step - j) / 16
    return j


def assert_variation_is_the_proxys(s: dict, up: np.ndarray, down: np.ndarray, **tolerance: float) -> None:
    """Against the proxy's holds of each measured ping and its pong (ms, seq order, as the engine's):
    upstream jitter within 10 %, each upstream OWD variation percentile within ``tolerance``.

    Downstream the proxy held a constant delay, give or take its own wake-ups (in its log: in one webrtc
    run two pongs 4.7 and 3.9 ms late, five pings from the end, which left RFC 3550's running figure at
    0.48 ms). The engine adds what the wire, the agent and both hosts' scheduling add (tens of µs on
    loopback, a busy shared machine's wake-ups now and then): under a tenth of the upstream figures.
    """
    assert s["jitter_upstream"] == pytest.approx(np.abs(np.diff(up)).mean(), rel=0.10)
    for p in (50, 95, 99):
        truth = np.percentile(up - up.min(), p, method="inverted_cdf")
        assert s[f"owd_variation_upstream_p{p}"] == pytest.approx(truth, **tolerance)
    assert s["jitter_downstream"] < np.abs(np.diff(down)).mean() + 0.1 * s["jitter_upstream"]
    down_p50 = np.percentile(down - down.min(), 50, method="inverted_cdf")
    assert s["owd_variation_downstream_p50"] < down_p50 + 0.1 * s["owd_variation_upstream_p50"]
    assert s["jitter_rfc3550_downstream"] < rfc3550(down) + 0.1 * s["jitter_rfc3550_upstream"]


def test_on_reliable_webrtc_a_dropped_ping_is_resent_and_shows_as_upstream_delay_not_loss(tmp_path):
    """The default channel resends (SCTP): loss by direction on reliable webrtc is zero both ways, by design.

    aiortc resends a chunk once three SACKs report it missing, i.e. once three later pings reached the
    agent: a ping whose first copy the proxy dropped arrives three intervals late or more; in-order delivery
    holds the pings behind it until it does (each one interval less), and holds nothing else.
    """
    r, packets = run_through_proxy(
        tmp_path, "reliable-up", "up.loss=5%,seed=3", "--cooldown", str(COOLDOWN_MS), "--clock-mode", "estimate",
        "--payload-bytes", PAD, iterations=ITERATIONS, warmup=WARMUP, platform="webrtc",
    )  # fmt: skip
    s = r["statistics"]
    assert s["successful_messages"] == ITERATIONS and s["failed_messages"] == s["lost_upstream"] == 0
    pings = webrtc_ping_datagrams(r, packets)
    dropped = sum(p.fate == "dropped" for p in pings)
    assert len(pings) - dropped >= WARMUP + ITERATIONS  # every drop made up by a resend
    resent = {seq for seq, p in webrtc_first_copies(r, pings).items() if p.fate == "dropped"}
    assert len(resent) > 5
    rows = sorted(r["measurements"], key=lambda m: m["message_number"])
    owd = np.array([m["client_to_server"] for m in rows])  # t2 − t1 − θ̂: a constant off the one-way delay
    wait = 3 * COOLDOWN_MS - 1
    held = {m["message_number"] + WARMUP for m, v in zip(rows, owd - owd.min()) if v >= wait}
    assert resent <= held  # each came late, none lost
    assert all(seq - 1 in held for seq in held - resent)  # the others waited behind a later one
    # The rest untouched: the upstream median, and downstream, where nothing was dropped.
    assert s["owd_variation_upstream_p50"] < 0.1 * wait
    assert s["owd_variation_upstream_p99"] >= wait
    assert s["owd_variation_downstream_p99"] < 0.2 * wait


def test_on_reliable_webrtc_each_directions_delay_variation_is_the_proxys(tmp_path):
    """Uniform 2–8 ms up, a constant 5 ms down, nothing dropped (so nothing resent); estimate mode.

    In-order delivery is part of the truth: a ping that overtook the one before it in the proxy waits for
    it at the agent, so the agent has ping n at the latest departure of pings 1..n.
    """
    r, packets = run_through_proxy(
        tmp_path, "webrtc-jitter", "up.delay=uniform:2:8,down.delay=5,seed=12", "--cooldown", str(COOLDOWN_MS),
        "--clock-mode", "estimate", "--payload-bytes", PAD, iterations=1000, warmup=WARMUP, platform="webrtc",
    )  # fmt: skip
    pings = webrtc_ping_datagrams(r, packets)
    assert len(pings) == WARMUP + 1000 and {p.fate for p in pings} <= {"delivered", "reordered"}
    assert list(webrtc_first_copies(r, pings).values()) == pings[WARMUP:]
    departures = np.maximum.accumulate([p.departure_ns for p in pings])
    up = ((departures - [p.arrival_ns for p in pings]) / 1e6)[WARMUP:]
    pongs = webrtc_pong_datagrams(packets, pings)
    down = np.array([pongs[p.index].departure_ns - pongs[p.index].arrival_ns for p in pings[WARMUP:]]) / 1e6
    # What DTLS, SCTP and the agent's loop add beyond the proxy's hold, per ping: 0.04–0.08 ms at p50,
    # 0.18–0.27 ms at p99 (four runs); a percentile moves by what its rank's pings got added.
    assert_variation_is_the_proxys(r["statistics"], up, down, abs=0.3)


def test_variation_is_the_delay_above_its_minimum_and_ipdv_its_steps():
    got = variation(np.array([3, 1, 2, 5], dtype=np.int64) * 1_000_000)
    assert got["jitter"] == pytest.approx((2 + 1 + 3) / 3)
    assert (got["p50"], got["p95"], got["p99"]) == (1.0, 4.0, 4.0)
    assert variation(np.zeros(0, np.int64)) == {"jitter": None, "jitter_rfc3550": None, "p50": None, "p95": None, "p99": None}
