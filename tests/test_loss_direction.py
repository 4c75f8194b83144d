"""Which way a lost ping died, from the agent's own record: its set of received seqs and the running
count each pong carries. Real ``Echo`` objects answer; the session is scripted (tests/test_session.py)."""

from __future__ import annotations

import time

import pytest

from agent.echo import Echo
from engine.parent.analysis.loss_direction import loss_directions
from ipc.protocol import ENCODER, PONG_DECODER, Pong, Stamp, encode_ping
from ipc.received import MAX_RANGES, ReceivedSeqs, contains
from tests.test_session import TIMEOUT, Scripted
from transports.udp import MIN_PING_BYTES

MS = 1_000_000


def test_received_seqs_keep_distinct_seqs_as_merged_ranges():
    r = ReceivedSeqs()
    counts = [r.add(s) for s in (1, 2, 3, 7, 5, 6, 3, 10, 9)]
    assert counts == [1, 2, 3, 4, 5, 6, 6, 7, 8]  # the duplicate 3 counts once
    assert r.ranges() == [[1, 3], [5, 7], [9, 10]]
    r.add(4)
    assert r.ranges() == [[1, 7], [9, 10]] and r.count == 9 and r.complete
    assert contains(r.ranges(), [0, 1, 7, 8, 9, 11]) == [False, True, True, False, True, False]


def test_received_seqs_stop_growing_past_their_cap_and_say_so():
    r = ReceivedSeqs()
    for s in range(0, 2 * MAX_RANGES + 4, 2):
        r.add(s)
    assert len(r.ranges()) == MAX_RANGES and not r.complete
    assert r.add(1) == MAX_RANGES + 1  # a seq joining a kept range still counts


def test_the_largest_pong_and_its_stamp_fit_in_the_least_udp_ping():
    big, epoch = 2**63 - 1, 2**62
    pong = ENCODER.encode(
        Pong(
            seq=big, client_timestamp=1.0000000000000002e-300, server_receive_time=epoch / 1e6 - 0.1,
            server_send_time=epoch / 1e6 - 0.1, message_count=big, t2_ns=epoch, t3_ns=epoch, t2_kernel=True,
            received=big,
        )
    )  # fmt: skip
    stamp = ENCODER.encode(Stamp(seq=big, t3_ns=epoch))
    assert len(pong) + len(stamp) <= MIN_PING_BYTES


def test_each_pong_counts_the_distinct_pings_its_session_received_and_legacy_pongs_do_not():
    echo = Echo(run_id="run-test")
    pongs = [PONG_DECODER.decode(echo(encode_ping(s, 1.0, "run-test"), 10)) for s in (1, 2, 2, 4)]
    assert [p.received for p in pongs] == [1, 2, 2, 3]
    assert echo.received.ranges() == [[1, 2], [4, 4]]
    legacy = PONG_DECODER.decode(Echo()(b'{"type":"ping","timestamp":1.0}', time.time_ns()))
    assert legacy.received is None and legacy.seq is None


def test_running_counts_tell_upstream_from_downstream_and_leave_a_mixed_gap_unknown():
    """Pings 3, 4 never reach the echo; 6's pong is lost; 8's pong is lost and 9 never arrives (mixed)."""
    h = Scripted(iterations=11)
    echo = Echo(run_id="run-test")
    h.send(11)
    for seq, ping in enumerate(h.payloads, start=1):
        if seq in (3, 4, 9):
            continue
        pong = echo(ping, 1_700_000_000_000_000_000 + seq)
        if seq not in (6, 8):
            h.receive(pong, h.t1[seq] + MS)
    h.session.expire(h.t1[11] + 2 * TIMEOUT)
    assert sorted(h.lost()["seq"]) == [3, 4, 6, 8, 9]
    assert h.session.lost_directions() == ([3, 4], [6])
    ranges = (echo.received.ranges(), echo.received.complete)
    assert loss_directions([3, 4, 6, 8, 9], ranges) == ["upstream", "upstream", "downstream", "downstream", "upstream"]
    # Without the final set, the running counts' reading; without either, unknown.
    assert loss_directions([3, 4, 6, 8, 9], None, [3, 4], [6]) == ["upstream"] * 2 + ["downstream"] + ["unknown"] * 2
    assert loss_directions([3], None) == ["unknown"]


@pytest.mark.parametrize("complete", [True, False])
def test_a_set_the_agent_stopped_keeping_decides_only_what_it_holds(complete):
    got = loss_directions([5, 6], ([[1, 5]], complete), [6], [])
    assert got == ["downstream", "upstream"]  # 6 is upstream either way: the set if complete, else the counts
    assert loss_directions([6], ([[1, 5]], complete)) == ["upstream" if complete else "unknown"]
