"""What the engine should report for a run through the impairment proxy, derived from its truth log.

The engine's own definitions (engine/worker/session.py) applied to the proxy's
instants: pongs reach the runner in the order the proxy sent them; a ping is
sent when the proxy's kernel stamped its arrival. Tests choose delays far from
the timeout, so the microseconds between those instants and t1/t4 never
decide a pong's fate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from bisect import bisect_left
from collections import Counter
from pathlib import Path

import numpy as np

from engine.impair.truth import Packet, legs, read_truth
from engine.worker.session import LOSS_GRACE_NS
from tests.conftest import CLI, ROOT, cli_env


def engine_counts(packets: list[Packet], *, timeout_ms: float, warmup: int, iterations: int) -> dict[str, int]:
    """lost, late, duplicate and out-of-order over measured pings, as the session counts them; and under
    ``with_warmup_*`` the same counts had warmup pongs been counted (what the engine must not report)."""
    sent = {p.seq: p.arrival_ns for p in packets if p.dir == "up" and p.copy == 0 and p.seq is not None}
    # The runner stops listening once every measured ping is answered in time or declared lost (timeout
    # plus grace after it): a late pong held past that is never seen, by the engine or anyone.
    timeout_ns = timeout_ms * 1e6
    answered: dict[int, int] = {}
    for p in packets:
        if p.dir == "down" and p.seq in sent and p.departure_ns and p.departure_ns - sent[p.seq] <= timeout_ns:
            answered[p.seq] = min(answered.get(p.seq, p.departure_ns), p.departure_ns)
    heard_until = max(
        answered.get(seq, sent[seq] + timeout_ns + LOSS_GRACE_NS) for seq in sent if warmup < seq <= warmup + iterations
    )
    pongs = sorted(
        (
            p
            for p in packets
            if p.dir == "down" and p.seq is not None and p.departure_ns is not None and p.departure_ns < heard_until
        ),
        key=lambda p: p.departure_ns,
    )  # (seq None: a pong's follow-up stamp)
    state: dict[int, str] = {}
    counts = dict.fromkeys(("late", "duplicate", "out_of_order", "with_warmup_events"), 0)
    max_seen = 0
    for p in pongs:
        kind = None
        if state.get(p.seq) == "received":
            kind = "duplicate"
        elif state.get(p.seq) == "lost" or p.departure_ns - sent[p.seq] > timeout_ms * 1e6:
            kind = "late"
            state[p.seq] = "lost"
        else:
            state[p.seq] = "received"
            kind = "out_of_order" if p.seq < max_seen else None
            max_seen = max(max_seen, p.seq)
        if kind and p.seq > warmup:
            counts[kind] += 1
        elif kind:
            counts["with_warmup_events"] += 1
    measured_seqs = range(warmup + 1, warmup + iterations + 1)
    counts["lost"] = sum(state.get(seq) != "received" for seq in measured_seqs)
    return counts


#: The tolerances are the engine's, not the neighbours': on a shared machine other work that preempts the
#: agent or the runner adds milliseconds no engine can see, so where allowed (CAP_SYS_NICE) the processes of a
#: truth run get a real-time priority (their children inherit it). They sleep between pings; none spins.
def _realtime_prefix() -> list[str]:
    prefix = ["chrt", "--fifo", "5"]
    allowed = shutil.which("chrt") and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0
    return prefix if allowed else []


REALTIME = _realtime_prefix()


def run_through_proxy(
    tmp_path: Path, name: str, spec: str, *args: str, iterations: int, warmup: int = 5, platform: str = "udp"
):
    """A real ``benchmark-runner --platform udp --impair SPEC`` run; returns (result, truth packets)."""
    out, log = tmp_path / f"{name}.json", tmp_path / f"{name}.truth.jsonl"
    argv = [
        *REALTIME, *CLI, "--platform", platform, "--iterations", str(iterations), "--warmup", str(warmup),
        "--impair", spec, "--impair-log", str(log), "--output", str(out), *args,
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=cli_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["metadata"]["impairment"]["text"] == spec
    return result, read_truth(log)[1]


def per_ping(result: dict, packets: list[Packet]) -> dict[str, np.ndarray]:
    """Engine RTT and one-way values beside the proxy's legs (ms), for measured pings answered through it."""
    warmup = result["metadata"]["warmup"]
    truth = legs(packets)
    rows = [m for m in result["measurements"] if m["message_number"] + warmup in truth]
    up, agent, down = (np.array(leg) / 1e6 for leg in zip(*(truth[m["message_number"] + warmup] for m in rows)))
    return {
        "rtt": np.array([m["round_trip_time"] for m in rows]),
        "c2s": np.array([m["client_to_server"] for m in rows]),
        "s2c": np.array([m["server_to_client"] for m in rows]),
        "hold_up": up,
        "agent_leg": agent,
        "hold_down": down,
        "span": up + agent + down,  # the ping's kernel arrival at the proxy to the pong's departure from it
    }


def webrtc_ping_datagrams(result: dict, packets: list[Packet]) -> list[Packet]:
    """WebRTC's datagrams up that carry a ping (a first copy or an SCTP retransmission), in arrival order.

    The log has no seq there (DTLS records), but aiortc puts one SCTP chunk in each datagram (no bundling),
    so a ping padded with ``--payload-bytes`` (at least 100) is the only kind of datagram of its size: the
    most common size among those at least that long (SACKs, FORWARD-TSNs, heartbeats and STUN checks are
    shorter; the few DTLS handshake records are longer or lone).
    """
    floor = result["metadata"]["payload_bytes"]
    assert floor >= 100, "pad the pings (--payload-bytes) so they stand apart from SCTP's control chunks"
    size = Counter(p.size for p in packets if p.dir == "up" and p.size >= floor).most_common(1)[0][0]
    return sorted((p for p in packets if p.dir == "up" and p.size == size), key=lambda p: p.index)


def webrtc_first_copies(result: dict, datagrams: list[Packet]) -> dict[int, Packet]:
    """Per measured seq, the datagram that first carried its ping: the first of ``datagrams`` to reach the
    proxy at or after the ping's due instant (its ``timestamp``; 0.1 ms early allowed for its rounding).

    aiortc resends a chunk only after three SACKs report it missing (or its 1 s timer), so no resend comes
    between a ping's due instant and its first copy, which follows the pacer's send call by tenths of a ms;
    a send late past the next ping's due instant would give two seqs one copy, and fails here.
    """
    warmup = result["metadata"]["warmup"]
    due = {e["message_number"] + warmup: round(e["timestamp"] * 1e9) for e in result["measurements"] + result["lost"]}
    arrivals = [p.arrival_ns for p in datagrams]
    first = {seq: datagrams[bisect_left(arrivals, t - 100_000)] for seq, t in sorted(due.items())}
    indices = [p.index for p in first.values()]
    assert indices == sorted(set(indices)), "two pings matched one datagram: a send was later than the next ping"
    return first


def webrtc_pong_datagrams(packets: list[Packet], pings: list[Packet]) -> dict[int, Packet]:
    """When nothing was resent (``--unreliable``, or nothing dropped): per ping datagram (``index``) that
    reached the agent, the datagram that carried its pong, dropped or not.

    Pongs are the only datagrams longer than a ping after it starts; the agent answers each ping it gets, in
    the order it gets them, with one datagram; only the first one or two may go unanswered (its channel opens
    on the runner's DCEP ACK, which a ping can overtake), so they are matched from the last. A pong that left the
    proxy's upstream socket before its ping left the proxy would be a mismatch: none may.
    """
    delivered = [p for p in pings if p.departure_ns is not None]
    pongs = sorted(
        (p for p in packets if p.dir == "down" and p.size > pings[0].size and p.arrival_ns > pings[0].arrival_ns),
        key=lambda p: p.index,
    )
    assert len(delivered) - 2 <= len(pongs) <= len(delivered), (len(delivered), len(pongs))
    matched = {ping.index: pong for ping, pong in zip(reversed(delivered), reversed(pongs))}
    assert all(matched[ping.index].arrival_ns > ping.departure_ns for ping in delivered if ping.index in matched)
    return matched


def agent_env_with_clock_shift(shift_ns: int) -> dict[str, str]:
    """This environment for an agent whose time functions read ``shift_ns`` ahead (tests/clock_shift).

    The hook shifts Python's clock, not the kernel's receive stamps, which a host whose clock is off would
    shift alike: so this agent stamps in user space (RTC_BENCH_USER_STAMPS), where the shift reaches every stamp.
    """
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'tests' / 'clock_shift'}:{ROOT}",
        "CLOCK_SHIFT_NS": str(shift_ns),
        "RTC_BENCH_USER_STAMPS": "1",
    }
