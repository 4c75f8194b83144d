"""Session bookkeeping with a scripted transport: every instant is chosen by the test.

t1 is stamped by ``Session.send`` itself (``perf_counter_ns`` right before the
transport's send); the test reads it back through ``last_t1`` and places each
pong's t4 relative to it, so timing never depends on how fast the test runs.
"""

from __future__ import annotations

import logging
import time

import msgspec
import pytest

from agent.echo import Echo
from engine.worker.session import COUNTERS, LOSS_GRACE_NS, RECENT_ARRIVALS, Session
from ipc.clocks.anchors import Anchor, take_anchor
from ipc.frames import KERNEL_T3
from ipc.protocol import ENCODER, MAX_MESSAGE_BYTES, PING_DECODER, Pong, Stamp, encode_ping_sized

MS = 1_000_000
TIMEOUT = 100 * MS
INTERVAL = 20 * MS
START = 5_000 * MS  # due instant of ping k is START + k * INTERVAL (perf clock, arbitrary here)
ANCHOR = Anchor(wall_ns=1_700_000_000_000_000_000, perf_ns=0, uncertainty_ns=0)
T2_BASE = 1_700_000_000_123_000_000


class Scripted:
    """A Session plus the fake transport's record of what it sent, on a clock ``advance`` moves forward."""

    def __init__(
        self,
        *,
        iterations: int,
        warmup: int = 0,
        payload_bytes: int = 0,
        anchor: Anchor = ANCHOR,
        interval_ns: int = INTERVAL,
    ) -> None:
        self.payloads: list[bytes] = []
        self.t1: dict[int, int] = {}
        self.skew_ns = 0
        self.session = Session(
            run_id="run-test",
            iterations=iterations,
            warmup=warmup,
            timeout_ns=TIMEOUT,
            interval_ns=interval_ns,
            payload_bytes=payload_bytes,
            anchor=anchor,
            send=self.payloads.append,
            clock=self.clock,
        )

    def clock(self) -> int:
        """The session's t1 clock: ``time.perf_counter_ns`` plus every ``advance`` so far."""
        return time.perf_counter_ns() + self.skew_ns

    def advance(self, ns: int) -> None:
        """Let ``ns`` pass before the next ping, without waiting for it."""
        self.skew_ns += ns

    def send(self, count: int) -> None:
        """Send the next ``count`` pings at their due instants; remember each t1."""
        for _ in range(count):
            k = self.session.sent
            before = self.clock()
            self.session.send(k, due(k))
            after = self.clock()
            t1 = self.session.last_t1
            assert before <= t1 <= after
            self.t1[k + 1] = t1

    def pong(self, seq: int, rtt_ns: int, *, processing_ns: int = 40_000) -> None:
        """Answer ping ``seq`` with a current-agent pong arriving ``rtt_ns`` after its t1."""
        t2 = T2_BASE + seq * INTERVAL
        self.receive(pong_bytes(seq, t2, t2 + processing_ns), self.t1[seq] + rtt_ns)

    def receive(self, data: bytes, t4: int) -> None:
        """What the worker does: the receiver keeps the bytes, matching follows off the receive path."""
        self.session.on_receive(data, t4)
        self.session.match()

    def samples(self) -> dict[str, list[int]]:
        s = self.session.take_samples()
        if s is None:
            return {"seq": []}
        return {f: list(getattr(s, f)) for f in s.__struct_fields__}

    def lost(self) -> dict[str, list[int]]:
        lost = self.session.take_lost()
        if lost is None:
            return {"seq": []}
        return {f: list(getattr(lost, f)) for f in lost.__struct_fields__}


def due(k: int) -> int:
    return START + k * INTERVAL


def pong_bytes(seq: int, t2: int, t3: int) -> bytes:
    return ENCODER.encode(
        Pong(
            seq=seq,
            client_timestamp=0.0,
            server_receive_time=t2 / 1e6,
            server_send_time=t3 / 1e6,
            message_count=seq,
            t2_ns=t2,
            t3_ns=t3,
        )
    )


def counters(**expected: int) -> dict[str, int]:
    return {**dict.fromkeys(COUNTERS, 0), **expected}


# -- matching ------------------------------------------------------------------------------


def test_matched_pongs_are_samples_and_warmup_is_excluded() -> None:
    h = Scripted(iterations=3, warmup=2)
    h.send(5)
    assert h.session.sent == 5 and len(h.payloads) == 5
    assert [PING_DECODER.decode(p).seq for p in h.payloads] == [1, 2, 3, 4, 5]
    for seq in range(1, 6):
        h.pong(seq, rtt_ns=MS + seq * 1_000, processing_ns=40_000 + seq)
    s = h.samples()
    assert s["seq"] == [3, 4, 5]  # warmup seqs 1, 2 never become samples
    assert s["due"] == [due(2), due(3), due(4)]
    assert s["t1"] == [h.t1[3], h.t1[4], h.t1[5]]
    assert [t4 - t1 for t1, t4 in zip(s["t1"], s["t4"])] == [MS + 3_000, MS + 4_000, MS + 5_000]
    assert s["t2"] == [T2_BASE + seq * INTERVAL for seq in (3, 4, 5)]
    assert [t3 - t2 for t2, t3 in zip(s["t2"], s["t3"])] == [40_003, 40_004, 40_005]
    assert s["processing_ns"] == [40_003, 40_004, 40_005]
    assert h.session.resolved == 3 and h.session.all_resolved
    assert h.session.counters == counters()
    assert h.session.legacy_agent is False
    assert h.session.take_samples() is None  # handed over once
    assert h.session.take_lost() is None


def test_a_limited_take_hands_over_the_oldest_samples_and_keeps_the_rest() -> None:
    h = Scripted(iterations=5)
    h.send(5)
    for seq in range(1, 6):
        h.pong(seq, rtt_ns=MS + seq)
    h.session.match()
    assert h.session.pending_samples == 5
    head = h.session.take_samples(match_all=False, limit=2)
    assert head.seq == [1, 2] and [t4 - t1 for t1, t4 in zip(head.t1, head.t4)] == [MS + 1, MS + 2]
    assert len(head.kernel) == len(head.t4_user) == 2  # every column cut at the same place
    assert h.session.pending_samples == 3
    rest = h.session.take_samples(limit=10)
    assert rest.seq == [3, 4, 5] and len(rest.processing_ns) == 3
    assert h.session.pending_samples == 0 and h.session.take_samples() is None


def stamp_bytes(seq: int, t3_ns: int) -> bytes:
    return ENCODER.encode(Stamp(seq=seq, t3_ns=t3_ns))


def test_a_follow_up_stamp_gives_its_sample_the_kernel_t3_when_it_can_be_right() -> None:
    h = Scripted(iterations=5, warmup=1)
    h.send(6)
    t3_user = {seq: T2_BASE + seq * INTERVAL + 40_000 for seq in range(1, 7)}
    for seq, lead_ns in ((1, 5_000), (2, 5_000), (3, -1), (4, 2 * 10**9), (5, 0)):
        h.pong(seq, rtt_ns=MS)
        h.receive(stamp_bytes(seq, t3_user[seq] + lead_ns), h.t1[seq] + MS + 20_000)
    h.pong(6, rtt_ns=MS)
    h.receive(b'{"type":"stamp","seq":6}', h.t1[6] + MS + 20_000)  # no t3_ns: malformed
    assert h.session.arrivals == 6  # follow-ups are not pongs
    s = h.samples()
    assert s["seq"] == [2, 3, 4, 5, 6]  # seq 1 was warmup: its stamp has no sample to go to
    kernel_t3 = [bool(k & KERNEL_T3) for k in s["kernel"]]
    # 5 µs after the user-space t3: taken. Before it, or 2 s after it: cannot be that pong's departure.
    assert kernel_t3 == [True, False, False, True, False]
    assert s["t3"] == [t3_user[2] + 5_000, t3_user[3], t3_user[4], t3_user[5], t3_user[6]]
    assert s["processing_ns"] == [45_000, 40_000, 40_000, 40_000, 40_000]
    assert h.session.counters == counters(malformed=1)


def test_pong_at_exactly_the_timeout_matches_one_ns_later_is_late_and_lost() -> None:
    h = Scripted(iterations=2)
    h.send(2)
    h.pong(1, rtt_ns=TIMEOUT)
    h.pong(2, rtt_ns=TIMEOUT + 1)
    assert h.samples()["seq"] == [1]
    lost = h.lost()
    assert lost == {"seq": [2], "due": [due(1)], "t1": [h.t1[2]]}
    assert h.session.counters == counters(late=1)
    assert h.session.all_resolved
    # Another answer to the lost ping is late again, and it is not lost twice.
    h.pong(2, rtt_ns=TIMEOUT // 2)
    assert h.session.counters["late"] == 2
    assert h.session.late_seqs == [2, 2]  # each late pong, for the report's marks
    h.session.expire(h.t1[2] + 10 * TIMEOUT)
    assert h.session.take_lost() is None and h.session.take_samples() is None
    assert h.session.resolved == 2


def test_duplicate_pong_is_counted_once_sampled_once() -> None:
    h = Scripted(iterations=2)
    h.send(2)
    h.pong(1, rtt_ns=2 * MS)
    h.pong(1, rtt_ns=3 * MS)
    h.pong(2, rtt_ns=2 * MS)
    s = h.samples()
    assert s["seq"] == [1, 2]
    assert s["t4"][0] - s["t1"][0] == 2 * MS  # the first answer is the one kept
    assert h.session.counters == counters(duplicate=1)
    assert h.session.resolved == 2


def test_out_of_order_pongs_are_counted_and_kept() -> None:
    h = Scripted(iterations=4)
    h.send(4)
    for seq in (3, 1, 4, 2):
        h.pong(seq, rtt_ns=MS * seq)
    s = h.samples()
    assert s["seq"] == [3, 1, 4, 2]  # arrival order; the parent sorts by seq
    assert [t4 - t1 for t1, t4 in zip(s["t1"], s["t4"])] == [3 * MS, MS, 4 * MS, 2 * MS]
    assert h.session.counters == counters(out_of_order=2)  # 1 after 3, 2 after 4
    assert h.session.all_resolved


def test_warmup_pongs_enter_no_count() -> None:
    """Late, duplicate and out-of-order answers to warmup pings are left out, as warmup is from every statistic."""
    h = Scripted(iterations=3, warmup=3)
    h.send(6)
    h.pong(2, rtt_ns=MS)
    h.pong(1, rtt_ns=2 * MS)  # warmup after warmup: out of order
    h.pong(1, rtt_ns=3 * MS)  # warmup duplicate
    h.pong(3, rtt_ns=TIMEOUT + 1)  # warmup late
    h.pong(5, rtt_ns=MS)
    assert h.session.counters == counters()
    h.pong(4, rtt_ns=2 * MS)  # measured after measured: out of order
    h.pong(4, rtt_ns=3 * MS)  # measured duplicate
    h.pong(6, rtt_ns=TIMEOUT + 1)  # measured late
    assert h.session.counters == counters(out_of_order=1, duplicate=1, late=1)
    assert h.samples()["seq"] == [5, 4]
    assert h.lost()["seq"] == [6]


def test_first_out_of_order_pong_is_logged_as_kept(caplog) -> None:
    h = Scripted(iterations=2)
    h.send(2)
    with caplog.at_level(logging.WARNING, logger="engine.worker.session"):
        h.pong(2, rtt_ns=MS)
        h.pong(1, rtt_ns=2 * MS)
    assert h.samples()["seq"] == [2, 1]
    assert "first out-of-order pong kept as a sample: seq=1 after 2" in caplog.text
    assert "ignored" not in caplog.text


def test_pong_for_a_seq_never_sent_is_unknown() -> None:
    h = Scripted(iterations=5)
    h.send(2)
    t4 = h.t1[2] + MS
    for seq in (3, 0, -1, 99):  # 3 not yet sent; 0 impossible; -1 outside the protocol; 99 beyond the run
        h.receive(pong_bytes(seq, T2_BASE, T2_BASE + 1), t4)
    assert h.session.counters == counters(unknown=3, malformed=1)
    assert h.samples()["seq"] == []
    # Once seq 3 has really been sent, its pong is matched normally.
    h.send(1)
    h.pong(3, rtt_ns=MS)
    assert h.samples()["seq"] == [3]


def test_malformed_and_oversized_messages_never_become_samples(caplog) -> None:
    h = Scripted(iterations=2)
    h.send(2)
    t4 = h.t1[2] + MS
    good = {
        "type": "pong",
        "seq": 1,
        "client_timestamp": 1.0,
        "server_receive_time": 2.0,
        "server_send_time": 3.0,
        "t2_ns": T2_BASE,
        "t3_ns": T2_BASE + 10,
    }
    garbage = [
        b"",
        b"\x00\xff\xfe not json",
        b"[1, 2, 3]",
        b'{"type": "pong", "seq": 1',  # truncated
        msgspec.json.encode({**good, "type": "ping"}),  # wrong message type
        msgspec.json.encode({**good, "seq": "1"}),  # wrong field type
        msgspec.json.encode({"type": "pong", "seq": 1}),  # required fields missing
    ]

    def sized(seq: int, size: int) -> bytes:
        """A valid pong for ``seq`` grown to exactly ``size`` bytes by an unknown field."""
        bare = msgspec.json.encode({**good, "seq": seq, "filler": ""})
        data = msgspec.json.encode({**good, "seq": seq, "filler": "x" * (size - len(bare))})
        assert len(data) == size
        return data

    oversized = sized(1, MAX_MESSAGE_BYTES + 1)
    with caplog.at_level(logging.WARNING, logger="engine.worker.session"):
        for data in [*garbage, oversized]:
            h.receive(data, t4)
    assert h.session.counters == counters(malformed=len(garbage) + 1)
    assert h.samples()["seq"] == []
    assert h.session.resolved == 0
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 1  # logged once per kind

    # The size limit, not the content, refused the big one: at exactly the limit it is a sample.
    h.receive(sized(1, MAX_MESSAGE_BYTES), t4)
    h.receive(sized(2, MAX_MESSAGE_BYTES), t4)
    assert h.samples()["seq"] == [1, 2]
    assert h.session.counters["malformed"] == len(garbage) + 1


# -- legacy agents ----------------------------------------------------------------------------


def legacy_pong(client_timestamp: float, receive_ms: float, send_ms: float, count: int) -> bytes:
    """What the original voice-rtc-bench agent sends: no seq, no t2_ns/t3_ns."""
    return ENCODER.encode(
        Pong(
            client_timestamp=client_timestamp,
            server_receive_time=receive_ms,
            server_send_time=send_ms,
            message_count=count,
        )
    )


def test_legacy_pong_matched_by_client_timestamp() -> None:
    h = Scripted(iterations=2, warmup=1)
    h.send(3)
    pings = [PING_DECODER.decode(p) for p in h.payloads]
    for k, ping in enumerate(pings):
        assert ping.timestamp == (ANCHOR.wall_ns + due(k) - ANCHOR.perf_ns) / 1e6  # due instant as wall ms
        assert b'"type":"ping"' in h.payloads[k]  # legacy agents answer nothing else
    legacy = legacy_pong(pings[0].timestamp, 1.0, 2.0, 1)
    assert b'"seq"' not in legacy and b'"t2_ns"' not in legacy and b'"type":"pong"' in legacy

    # Answer out of order; server times are exact in binary so the difference is exactly 0.5 ms.
    h.receive(legacy_pong(pings[2].timestamp, 1_700_000_000_000.25, 1_700_000_000_000.75, 3), h.t1[3] + 2 * MS)
    h.receive(legacy_pong(pings[1].timestamp, 1_700_000_000_000.5, 1_700_000_000_001.5, 2), h.t1[2] + 3 * MS)
    h.receive(legacy_pong(pings[0].timestamp, 1.0, 2.0, 1), h.t1[1] + MS)  # warmup: out of order, not counted
    s = h.samples()
    assert s["seq"] == [3, 2]
    assert s["processing_ns"] == [500_000, 1_000_000]
    assert s["t2"] == [0, 0] and s["t3"] == [0, 0]
    assert [t4 - t1 for t1, t4 in zip(s["t1"], s["t4"])] == [2 * MS, 3 * MS]
    assert h.session.legacy_agent is True
    assert h.session.counters == counters(out_of_order=1)
    assert h.session.all_resolved

    # A timestamp no ping carried is unknown.
    h.receive(legacy_pong(pings[0].timestamp + 0.5, 1.0, 2.0, 4), h.t1[3] + MS)
    assert h.session.counters["unknown"] == 1


def test_legacy_pongs_with_equal_timestamps_match_in_send_order() -> None:
    """With --cooldown 0 every ping is due at once and carries the same timestamp."""
    h = Scripted(iterations=3, interval_ns=0)
    for k in range(3):
        h.session.send(k, START)
        h.t1[k + 1] = h.session.last_t1
    ts = PING_DECODER.decode(h.payloads[0]).timestamp
    assert {PING_DECODER.decode(p).timestamp for p in h.payloads} == {ts}
    for seq in (1, 2, 3):
        h.receive(legacy_pong(ts, 1.0, 2.0, seq), h.t1[seq] + seq * MS)
    assert h.samples()["seq"] == [1, 2, 3]
    h.receive(legacy_pong(ts, 1.0, 2.0, 4), h.t1[3] + 4 * MS)  # a fourth answer: a duplicate
    assert h.session.counters == counters(duplicate=1)


def test_pong_with_seq_but_no_agent_instants_marks_one_way_unavailable() -> None:
    h = Scripted(iterations=1)
    h.send(1)
    data = ENCODER.encode(Pong(seq=1, client_timestamp=0.0, server_receive_time=10.0, server_send_time=10.25))
    h.receive(data, h.t1[1] + MS)
    s = h.samples()
    assert s["seq"] == [1] and s["processing_ns"] == [250_000] and s["t2"] == [0]
    assert h.session.legacy_agent is True  # t2 = t3 = 0 must not feed one-way estimates


def test_current_agent_echo_round_trip() -> None:
    """The agent's real Echo answers the session's real pings; the pongs match by seq."""
    h = Scripted(iterations=3, payload_bytes=200, anchor=take_anchor())
    echo = Echo()
    h.send(3)
    for seq, ping in enumerate(h.payloads, start=1):
        t2 = time.time_ns()
        reply = echo(ping, t2)
        assert reply is not None
        h.receive(reply, h.t1[seq] + MS)
    s = h.samples()
    assert s["seq"] == [1, 2, 3]
    assert all(t3 >= t2 > 0 for t2, t3 in zip(s["t2"], s["t3"]))
    assert s["processing_ns"] == [t3 - t2 for t2, t3 in zip(s["t2"], s["t3"])]
    assert h.session.legacy_agent is False and echo.message_count == 3 and echo.malformed == 0


# -- loss -------------------------------------------------------------------------------------


def test_expire_declares_loss_only_after_timeout_plus_grace() -> None:
    h = Scripted(iterations=3, warmup=1)
    h.send(4)
    limit = TIMEOUT + LOSS_GRACE_NS
    h.session.expire(h.t1[2] + limit)  # exactly at the limit: not yet
    assert h.session.take_lost() is None
    assert not h.session.all_resolved

    h.pong(3, rtt_ns=MS)
    now = h.t1[2] + limit + 1
    h.session.expire(now)
    lost = h.lost()
    # Seq 1 (warmup) is never reported; seq 2 is; seq 3 was answered; seq 4 only if it is as old.
    expected = [2] + ([4] if now - h.t1[4] > limit else [])
    assert lost["seq"] == expected
    assert lost["t1"] == [h.t1[s] for s in expected] and lost["due"] == [due(s - 1) for s in expected]

    # A pong for a ping already declared lost is late (the grace elapsed), never a sample.
    h.pong(2, rtt_ns=MS)
    assert h.session.counters == counters(late=1)
    assert h.samples()["seq"] == [3]

    h.session.expire(h.t1[4] + limit + 1)
    assert h.lost()["seq"] == ([] if 4 in expected else [4])
    assert h.session.resolved == 3 and h.session.all_resolved
    assert h.session.take_lost() is None


def test_all_resolved_counts_measured_pings_only() -> None:
    h = Scripted(iterations=2, warmup=2)
    assert not h.session.all_resolved
    h.send(4)
    h.pong(3, rtt_ns=MS)
    assert not h.session.all_resolved  # warmup seqs 1, 2 unanswered do not matter, seq 4 does
    h.pong(4, rtt_ns=MS)
    assert h.session.all_resolved
    assert h.session.resolved == 2


# -- padding ----------------------------------------------------------------------------------


def test_pings_are_padded_to_exactly_payload_bytes() -> None:
    # Realistic anchor: epoch-ms timestamps of 16-17 significant digits, as in a real run.
    h = Scripted(iterations=120, payload_bytes=200, anchor=take_anchor())
    h.send(120)
    assert {len(p) for p in h.payloads} == {200}
    for seq, p in enumerate(h.payloads, start=1):
        ping = PING_DECODER.decode(p)
        assert ping.seq == seq and ping.run_id == "run-test" and set(ping.pad) == {"x"}


@pytest.mark.parametrize("seq", [1, 17, 999, 1_000_000, 123_456_789])
@pytest.mark.parametrize("timestamp", [1_734_567_890_123.4568, 1.7e12, 1.0])
def test_encode_ping_sized_is_exact(seq: int, timestamp: float) -> None:
    for size in (120, 200, 1_200):
        data = encode_ping_sized(seq, timestamp, "0123456789abcdef", size)
        assert len(data) == size
        ping = PING_DECODER.decode(data)
        assert (ping.seq, ping.timestamp) == (seq, timestamp)


def test_too_small_payload_bytes_sends_unpadded_pings() -> None:
    h = Scripted(iterations=2, payload_bytes=10)
    h.send(2)
    assert all(b'"pad"' not in p for p in h.payloads)
    assert all(len(p) > 10 for p in h.payloads)
    h0 = Scripted(iterations=1, payload_bytes=0)
    h0.send(1)
    assert b'"pad"' not in h0.payloads[0]


def test_receiving_only_keeps_bytes_until_match() -> None:
    """The receive path stamps and stores; decoding waits, so a garbage flood costs the stamp nothing."""
    h = Scripted(iterations=2)
    h.send(2)
    h.session.on_receive(b"garbage", h.t1[1] + MS)
    h.session.on_receive(pong_bytes(2, T2_BASE, T2_BASE + 1), h.t1[2] + MS)
    assert h.session.arrivals == 2
    assert h.session.counters == counters()  # nothing decoded yet
    h.session.match()
    assert h.session.counters == counters(malformed=1)
    assert h.samples()["seq"] == [2]
    h.session.on_receive(pong_bytes(1, T2_BASE, T2_BASE + 1), h.t1[1] + 2 * MS)
    assert h.samples()["seq"] == [1]  # take_samples matches what is waiting first


def test_wire_conversions_run_when_a_ping_is_prepared_and_a_pong_is_matched() -> None:
    """A transport's own message form (Daily's JSON objects): converted ahead of t1 and after t4, never between."""
    calls: list[str] = []
    sent: list[object] = []

    def to_wire(data: bytes) -> dict:
        calls.append("to_wire")
        return msgspec.json.decode(data)

    def from_wire(message: dict) -> bytes:
        calls.append("from_wire")
        return msgspec.json.encode(message)

    session = Session(
        run_id="r", iterations=1, warmup=0, timeout_ns=TIMEOUT, interval_ns=INTERVAL, payload_bytes=0,
        anchor=ANCHOR, send=sent.append, to_wire=to_wire, from_wire=from_wire,
    )
    session.prepare(due(0))
    assert calls == ["to_wire"]
    session.send(0, due(0))
    assert calls == ["to_wire"] and sent[0]["seq"] == 1  # the prepared payload went out as is
    t2 = T2_BASE
    session.on_receive(msgspec.json.decode(pong_bytes(1, t2, t2 + 1000)), session.last_t1 + MS)
    assert calls == ["to_wire"]  # nothing converted on receipt
    session.match()
    assert calls == ["to_wire", "from_wire"]
    assert session.take_samples().seq == [1]


# -- when pongs are due --------------------------------------------------------------------


def test_a_pong_is_due_from_the_earliest_recent_arrival_and_answered_once_it_waits_in_the_inbox() -> None:
    h = Scripted(iterations=20)
    session = h.session
    h.send(RECENT_ARRIVALS)
    for seq in range(1, RECENT_ARRIVALS):
        h.pong(seq, rtt_ns=3 * MS)
    assert not session.knows_when_pongs_come and not session.awaits_pong(h.t1[1] + 3 * MS, 0, 0)
    h.pong(RECENT_ARRIVALS, rtt_ns=3 * MS)
    assert session.knows_when_pongs_come
    h.send(1)
    t1 = session.last_t1
    before, after = 400_000, 200_000
    # Due from 3 ms (the earliest arrival) less ``before``, until srtt + rttvar plus ``after``.
    assert not session.awaits_pong(t1 + 3 * MS - before - 1, before, after)
    assert session.awaits_pong(t1 + 3 * MS - before, before, after)
    high = session.srtt + session.rttvar
    assert session.awaits_pong(t1 + high + after, before, after)
    assert not session.awaits_pong(t1 + high + after + 1, before, after)
    # Its pong waiting unmatched in the inbox answers it.
    session.on_receive(pong_bytes(RECENT_ARRIVALS + 1, T2_BASE, T2_BASE + 1), t1 + 3 * MS)
    assert not session.awaits_pong(t1 + 3 * MS, before, after)


def test_a_pong_in_the_inbox_answers_an_overdue_ping_first() -> None:
    h = Scripted(iterations=20, interval_ns=5 * MS)
    session = h.session
    h.send(RECENT_ARRIVALS)
    for seq in range(1, RECENT_ARRIVALS + 1):
        h.pong(seq, rtt_ns=3 * MS)
    h.send(1)  # overdue below: its pong comes late
    h.advance(5 * MS)
    h.send(1)
    newest = session.last_t1
    # The late pong of the older ping waits unmatched: the newest ping's pong is still to come.
    session.on_receive(pong_bytes(RECENT_ARRIVALS + 1, T2_BASE, T2_BASE + 1), newest + 3 * MS)
    assert session.awaits_pong(newest + 3 * MS, 400_000, 200_000)
