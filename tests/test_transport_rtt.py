"""Where the time goes: each platform's transport RTT, read off the measuring path, split from the endpoints.

The stacks are real (aiortc through the impairment proxy, the LiveKit SDK
through the loopback server); Daily is the scripted stand-in in the SDK's
shape. The checks compare measured values with the proxy's truth log and with
each other, never with wall-clock bounds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import numpy as np
import pytest
from livekit.rtc._proto import stats_pb2
from livekit.rtc.room import RtcStats

from agent.echo import Echo
from bench_cli.summary import split_line
from engine.parent.analysis.breakdown import breakdown
from engine.parent.results.model import load
from engine.parent.supervision import agent_client
from engine.parent.supervision.embedded_agent import EmbeddedAgent
from engine.worker.housekeeping import FORCED, READ_RTT, RTT_READ_INTERVAL_NS, RUN
from ipc.frames import Done, Samples, TransportRtt
from ipc.spec import WorkerSpec
from tests.fake_daily import FakeDaily
from tests.impair_truth import run_through_proxy
from tests.test_housekeeping import run_worker
from tests.test_livekit_e2e import echo_agent
from transports.daily import DailyClient, DailyEcho
from transports.transport_rtt import DAILY_NETWORK, livekit_figures, livekit_totals

MS = 1_000_000
ROOM = "https://example.daily.co/rtt"


# --- Daily: the stand-in scripts get_network_stats() as daily-python gives it ---


@pytest.fixture
def daily_with_rtt() -> Iterator[FakeDaily]:
    fake = FakeDaily(network_rtt_s=0.0123)
    yield fake
    fake.shutdown()


@pytest.fixture
def daily_without_rtt() -> Iterator[FakeDaily]:
    fake = FakeDaily()
    yield fake
    fake.shutdown()


def read_both_sides(sdk: FakeDaily) -> tuple[list, list]:
    async def scenario() -> tuple[list, list]:
        echo = DailyEcho(ROOM, sdk=sdk)
        await echo.start(Echo())
        client = DailyClient(sdk=sdk)
        await asyncio.wait_for(client.connect({"room_url": ROOM}, lambda *a: None, lambda *a: None), 5)
        runner_side, agent_side = [], []
        client.read_transport_rtt(runner_side.append)
        echo.read_transport_rtt(agent_side.append)
        await client.close()
        await echo.close()
        return runner_side, agent_side

    return asyncio.run(scenario())


def test_daily_reads_each_sides_rtt_to_the_sfu_from_its_network_stats(daily_with_rtt):
    runner_side, agent_side = read_both_sides(daily_with_rtt)
    assert runner_side == [{"wire": 0.0123}] and agent_side == [{"wire": 0.0123}]
    assert DailyClient.transport_rtt_source == DailyEcho.transport_rtt_source == DAILY_NETWORK


def test_daily_without_network_stats_yet_gives_no_reading(daily_without_rtt):
    assert read_both_sides(daily_without_rtt) == ([], [])


# --- LiveKit: the candidate pairs of get_rtc_stats(), as the SDK's protobuf carries them ---


def _pair(total_s: float, responses: int, nominated: bool) -> stats_pb2.RtcStats:
    item = stats_pb2.RtcStats()
    pair = item.candidate_pair.candidate_pair
    pair.total_round_trip_time, pair.responses_received, pair.nominated = total_s, responses, nominated
    pair.current_round_trip_time = 0.0  # as libwebrtc reports it for seconds between its checks
    return item


def test_livekit_takes_the_nominated_pair_of_each_peer_connection_and_the_checks_since_the_last_reading():
    other = stats_pb2.RtcStats()
    other.transport.transport.bytes_sent = 10
    first = livekit_totals(
        RtcStats(
            publisher_stats=[other, _pair(5.0, 10, nominated=False), _pair(0.010, 5, nominated=True)],
            subscriber_stats=[_pair(0.012, 3, nominated=True)],
        )
    )
    assert first == {"publisher": (0.010, 5), "subscriber": (0.012, 3)}
    assert livekit_figures(first, {}) == pytest.approx({"publisher": 0.002, "subscriber": 0.004, "wire": 0.003})
    # Two more checks on the publisher (1 ms and 3 ms), none on the subscriber: only what is new counts.
    later = {"publisher": (0.014, 7), "subscriber": (0.012, 3)}
    assert livekit_figures(later, first) == pytest.approx({"publisher": 0.002, "wire": 0.002})
    assert livekit_figures(later, later) == {}
    assert livekit_totals(RtcStats(publisher_stats=[other, _pair(0.0, 0, nominated=True)], subscriber_stats=[])) == {}


# --- The split: both legs through an SFU, missing stays missing ---


def _frame(source: str, wire: list[float]) -> TransportRtt:
    return TransportRtt(source, list(range(1, len(wire) + 1)), {"wire": wire})


def test_an_sfus_wire_is_both_legs_and_the_endpoints_are_the_rest():
    runner = _frame("X", [0.001, 0.002, 0.003])
    agent = {"source": "X", "figures": {"wire": [0.004, None, 0.004]}}
    split = breakdown(app_p50=10.0, relayed=True, runner=runner, agent=agent)
    assert (split.p50, split.endpoints_p50, split.missing) == (6.0, 4.0, None)
    assert split.sides["agent"]["wire"]["readings"] == 2
    direct = breakdown(app_p50=10.0, relayed=False, runner=runner, agent=agent)  # webrtc: the agent's is the same path
    assert (direct.p50, direct.endpoints_p50) == (2.0, 8.0)


@pytest.mark.parametrize(
    ("runner", "agent", "why"),
    [
        (TransportRtt("none"), None, "gives no RTT of its own"),
        (TransportRtt("X"), None, "gave no reading"),
        (_frame("X", [0.001]), None, "the agent's leg"),
        (_frame("X", [0.001]), {"source": "X", "figures": {"wire": []}}, "the agent's leg"),
    ],
)
def test_a_missing_figure_is_said_missing_never_filled(runner, agent, why):
    split = breakdown(app_p50=10.0, relayed=True, runner=runner, agent=agent)
    assert split.p50 is split.p99 is split.endpoints_p50 is None
    assert why in split.missing


# --- The worker reads in quiet windows only ---


def test_reading_the_transport_rtt_never_lands_in_a_due_window():
    """A real webrtc worker in this process (aiortc both ends, the agent a process of its own): every
    reading it started is a step of a quiet housekeeping round, no ping was due and no pong arrived while
    it ran, and readings are at least ``RTT_READ_INTERVAL_NS`` apart."""
    with EmbeddedAgent("webrtc") as url:
        room_id, credentials = asyncio.run(agent_client.connect(url, "webrtc", True, run_id="rtt-quiet"))
        spec = WorkerSpec(
            platform="webrtc",
            credentials=credentials,
            run_id="rtt-quiet",
            iterations=600,
            warmup=5,
            interval_ns=5 * MS,
            timeout_ns=1000 * MS,
            payload_bytes=0,
        )
        frames, log = run_worker(spec)
        reply = asyncio.run(agent_client.disconnect(url, room_id))

    assert isinstance(frames[-1], Done) and not frames[-1].partial
    readings = next(f for f in frames if isinstance(f, TransportRtt))
    assert readings.source == "ICE STUN" and len([v for v in readings.figures["wire"] if v]) >= 3
    assert reply["transport_rtt"]["source"] == "ICE STUN" and reply["transport_rtt"]["figures"]["wire"]

    entries = np.array(log.entries())
    assert log.count == len(entries)  # nothing overwritten
    kinds = entries[:, 0]
    reads = entries[kinds == READ_RTT]
    assert not (kinds == READ_RTT | FORCED).any()
    assert len(reads) >= 3
    assert (np.diff(reads[:, 1]) >= RTT_READ_INTERVAL_NS).all()
    runs = entries[kinds == RUN]
    inside = np.searchsorted(runs[:, 1], reads[:, 1], side="right") - 1
    assert (inside >= 0).all() and (reads[:, 2] <= runs[inside, 2]).all()  # a step of a quiet round
    samples = [f for f in frames if isinstance(f, Samples)]
    due = np.sort(np.concatenate([s.due for s in samples]))
    arrived = np.sort(np.concatenate([s.t4 for s in samples]))

    def during_reads(instants: np.ndarray) -> np.ndarray:
        first = np.searchsorted(instants, reads[:, 1], side="left")
        return (first < len(instants)) & (instants[np.minimum(first, len(instants) - 1)] <= reads[:, 2])

    # No pong is stamped while a reading runs (one loop: a reading never holds a t4 back)...
    assert not during_reads(arrived).any()
    # ...and a reading ends before the next send: it starts only with READ_HEADROOM times its cost to spare, but
    # the kernel may still preempt it on a loaded 2-core machine (seen once in a full suite run): one in ten at most.
    overran = during_reads(due)
    assert overran.sum() <= max(1, len(reads) // 10), f"{overran.sum()} of {len(reads)} readings ran into a send"


# --- Against the truth: the impairment proxy and the LiveKit loopback server ---


def test_webrtc_wire_and_rtt_follow_the_proxys_delay_and_the_endpoints_stay(tmp_path):
    """5 ms each way through the proxy: the transport RTT (ICE STUN) and the application RTT both rise by
    what the proxy held (within 0.5 ms), and the endpoints' share stays within 0.3 ms of the unimpaired run's."""
    runs = {}
    for name, spec in (("zero", "delay=0"), ("five", "delay=5")):
        r, packets = run_through_proxy(tmp_path, name, spec, "--cooldown", "5", iterations=1000, platform="webrtc")
        held = sum(
            np.median([p.departure_ns - p.arrival_ns for p in packets if p.dir == d and p.departure_ns]) / 1e6
            for d in ("up", "down")
        )
        s, m = r["statistics"], r["metadata"]
        assert m["transport_rtt_source"] == "ICE STUN" and m["transport_rtt"]["runner"]["wire"]["readings"] >= 5
        assert m["transport_rtt"]["agent"]["wire"]["readings"] >= 5  # the agent's own side, from /disconnect
        runs[name] = (s["p50_rtt"], s["transport_rtt_p50"], s["endpoint_share_p50"], held)
        line = split_line(load((tmp_path / f"{name}.json").read_bytes()))
        assert line == (
            f"RTT p50 {s['p50_rtt']:.3f} ms = wire {s['transport_rtt_p50']:.3f} + endpoints "
            f"{s['endpoint_share_p50']:.3f} (transport RTT from ICE STUN)"
        )
    (app0, wire0, ends0, held0), (app5, wire5, ends5, held5) = runs["zero"], runs["five"]
    truth = held5 - held0
    assert truth == pytest.approx(10.0, abs=0.3)
    assert wire5 - wire0 == pytest.approx(truth, abs=0.5)
    assert app5 - app0 == pytest.approx(truth, abs=0.5)
    assert ends5 == pytest.approx(ends0, abs=0.3)


@pytest.mark.root
@pytest.mark.netns
@pytest.mark.server
def test_livekit_transport_rtt_has_both_legs_and_lies_below_the_rtt(livekit_server, tmp_path, cli):
    with echo_agent(livekit_server, tmp_path) as agent:
        proc = cli(
            *("--platform", "livekit", "--agent-url", agent.url, "--iterations", "300"),
            *("--cooldown", "10", "--timeout", "2000", "--output", str(tmp_path / "out.json")),
        )
    assert proc.returncode == 0, proc.stderr + livekit_server.server_log()
    result = json.loads((tmp_path / "out.json").read_text())
    s, m = result["statistics"], result["metadata"]
    assert m["transport_rtt_source"] == "ICE candidate pairs (LiveKit get_rtc_stats): runner↔SFU + SFU↔agent"
    for side in ("runner", "agent"):
        # The SDK joins with one peer connection (the publisher's) where the server offers it, as this one does.
        figures = m["transport_rtt"][side]
        assert "wire" in figures and {"publisher", "subscriber"} & set(figures), figures
        assert 0 < figures["wire"]["p50"] < s["p50_rtt"]
    legs = m["transport_rtt"]["runner"]["wire"]["p50"] + m["transport_rtt"]["agent"]["wire"]["p50"]
    assert s["transport_rtt_p50"] == pytest.approx(legs, abs=0.002)
    assert 0 < s["transport_rtt_p50"] < s["p50_rtt"]
    assert s["endpoint_share_p50"] == pytest.approx(s["p50_rtt"] - s["transport_rtt_p50"], abs=0.002)
    assert "RTT p50" in proc.stdout and "(transport RTT from ICE candidate pairs" in proc.stdout
