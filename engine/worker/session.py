"""One run's ping/pong bookkeeping inside a worker: matching, loss, late, duplicates.

The session owns nothing but arrays indexed by seq. ``send`` is called by the
pacer at each due instant and stamps t1 immediately before the transport's
send; ``on_receive`` is the transport's receiver, gets t4 already stamped and
only keeps the bytes: decoding and matching happen in ``match()``, which the
worker runs with each batch, so nothing but a list append follows a stamp.
Everything derived (RTT, offsets, statistics) is left to the parent.
"""

from __future__ import annotations

import logging
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import msgspec

from engine.worker.clock import Anchor
from engine.worker.protocol import decode_pong, encode_ping_sized
from ipc.frames import Lost, Samples
from transports.base import BytesOnTheWire

log = logging.getLogger(__name__)

# States of one seq in ``Session._state``.
_PENDING, _RECEIVED, _LOST = 0, 1, 2

#: Loss is declared this long after a ping's timeout, so a pong stamped on an
#: SDK thread just inside the timeout is not declared lost before it reaches the loop.
LOSS_GRACE_NS = 50_000_000

COUNTERS = ("late", "duplicate", "out_of_order", "malformed", "unknown")


class Session:
    """Pings seq 1..warmup+iterations; seqs after ``warmup`` are measured."""

    def __init__(
        self,
        *,
        run_id: str,
        iterations: int,
        warmup: int,
        timeout_ns: int,
        interval_ns: int,
        payload_bytes: int,
        anchor: Anchor,
        send: Callable[[Any], None],
        to_wire: Callable[[bytes], Any] = BytesOnTheWire.to_wire,
        from_wire: Callable[[Any], bytes] = BytesOnTheWire.from_wire,
    ) -> None:
        """``to_wire``/``from_wire`` convert between ping/pong bytes and what the transport sends and
        receives (Daily's app messages are JSON objects): pings when they are encoded ahead of time,
        pongs when they are matched, so neither conversion lands between t1 and t4."""
        self.run_id = run_id
        self.warmup = warmup
        self.total = warmup + iterations
        self.timeout_ns = timeout_ns
        self._interval = interval_ns
        self._anchor = anchor
        self._send = send
        self._to_wire = to_wire
        self._from_wire = from_wire
        self._payload_bytes = payload_bytes
        n = self.total + 1  # index 0 unused: seqs start at 1
        # Flat typed arrays: 8 bytes a ping, where lists of ints would cost ~40.
        self._due = array("q", bytes(8 * n))
        self._t1 = array("q", bytes(8 * n))
        self._timestamp = array("d", bytes(8 * n))  # the ping's "timestamp" field, non-decreasing
        self._state = bytearray(n)
        self._next_payload: Any = None
        self._inbox: list[tuple[Any, int]] = []
        self.arrivals = 0  # messages received, matched or not: the reply poller watches it
        self.sent = 0
        self.resolved = 0  # measured pings received or lost
        self._loss_cursor = 1
        self._max_seq_seen = 0
        self.legacy_agent = False
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.late_seqs: list[int] = []  # pings whose pong came after the timeout, for the report's late marks
        self._pending_samples = Samples([], [], [], [], [], [], [])
        self._pending_lost = Lost([], [], [])

    # -- sending -------------------------------------------------------------------

    def prepare(self, due_ns: int) -> None:
        """Encode the next ping ahead of its due instant, off the timing path."""
        seq = self.sent + 1
        if seq > self.total:
            return
        timestamp_ms = (self._anchor.wall_ns + (due_ns - self._anchor.perf_ns)) / 1e6
        self._timestamp[seq] = timestamp_ms
        self._next_payload = self._to_wire(encode_ping_sized(seq, timestamp_ms, self.run_id, self._payload_bytes))

    def send(self, k: int, due_ns: int) -> None:
        """Pacer callback for ping index k (seq k+1)."""
        if self._next_payload is None:
            self.prepare(due_ns)
        payload = self._next_payload
        t1 = time.perf_counter_ns()
        self._send(payload)
        seq = k + 1
        self._t1[seq] = t1
        self._due[seq] = due_ns
        self.sent = seq
        self._next_payload = None
        self.prepare(due_ns + self._interval)

    # -- receiving ------------------------------------------------------------------

    def on_receive(self, data: Any, t4: int) -> None:
        """The transport's receiver: keep the stamped message; conversion, decoding and matching wait for ``match()``."""
        self._inbox.append((data, t4))
        self.arrivals += 1

    def match(self) -> None:
        """Decode and match everything received so far (called off the receive path, before any read)."""
        inbox, self._inbox = self._inbox, []
        for data, t4 in inbox:
            self._match_one(self._from_wire(data), t4)

    def _match_one(self, data: bytes, t4: int) -> None:
        try:
            pong = decode_pong(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._count("malformed", exc)
            return
        seq = pong.seq
        if seq is None:
            seq = self._seq_for_timestamp(pong.client_timestamp)
        if seq is None or not 1 <= seq <= self.sent:
            self._count("unknown", f"seq={pong.seq} client_timestamp={pong.client_timestamp}")
            return
        state = self._state[seq]
        measured = seq > self.warmup  # warmup pongs enter no count (README: no statistic at all)
        if state == _RECEIVED:
            if measured:
                self._count("duplicate", f"seq={seq}")
            return
        t1 = self._t1[seq]
        if state == _LOST or t4 - t1 > self.timeout_ns:
            if measured:
                self._count("late", f"seq={seq} after {(t4 - t1) / 1e6:.1f} ms")
                self.late_seqs.append(seq)
            if state == _PENDING:
                self._mark_lost(seq)
            return
        self._state[seq] = _RECEIVED
        if seq < self._max_seq_seen and measured:
            self._count("out_of_order", f"seq={seq} after {self._max_seq_seen}")
        self._max_seq_seen = max(self._max_seq_seen, seq)
        if not measured:
            return
        self.resolved += 1
        if pong.t2_ns is not None and pong.t3_ns is not None:
            t2, t3 = pong.t2_ns, pong.t3_ns
            processing = t3 - t2
        else:  # no agent instants: one-way values are unavailable for this run
            self.legacy_agent = True
            t2 = t3 = 0
            processing = round((pong.server_send_time - pong.server_receive_time) * 1e6)
        s = self._pending_samples
        s.seq.append(seq)
        s.due.append(self._due[seq])
        s.t1.append(t1)
        s.t4.append(t4)
        s.t2.append(t2)
        s.t3.append(t3)
        s.processing_ns.append(processing)

    def _seq_for_timestamp(self, timestamp_ms: float) -> int | None:
        """Legacy pongs carry only our send timestamp; pings sharing one (cooldown 0) match in order."""
        first = bisect_left(self._timestamp, timestamp_ms, 1, self.sent + 1)
        seq = first
        while seq <= self.sent and self._timestamp[seq] == timestamp_ms:
            if self._state[seq] == _PENDING:
                return seq
            seq += 1
        return first if first <= self.sent and self._timestamp[first] == timestamp_ms else None

    def _count(self, kind: str, detail: object) -> None:
        if self.counters[kind] == 0:
            fate = "kept as a sample" if kind == "out_of_order" else "ignored"
            log.warning("first %s pong %s: %s", kind.replace("_", "-"), fate, detail)
        self.counters[kind] += 1

    # -- loss -----------------------------------------------------------------------

    def expire(self, now_ns: int) -> None:
        """Declare lost every sent ping whose timeout (plus grace) has passed and no pong answered."""
        self.match()
        limit = self.timeout_ns + LOSS_GRACE_NS
        seq = self._loss_cursor
        while seq <= self.sent and now_ns - self._t1[seq] > limit:
            if self._state[seq] == _PENDING:
                self._mark_lost(seq)
            seq += 1
        self._loss_cursor = seq

    def _mark_lost(self, seq: int) -> None:
        self._state[seq] = _LOST
        if seq <= self.warmup:
            return
        self.resolved += 1
        lost = self._pending_lost
        lost.seq.append(seq)
        lost.due.append(self._due[seq])
        lost.t1.append(self._t1[seq])

    @property
    def all_resolved(self) -> bool:
        return self.resolved >= self.total - self.warmup

    @property
    def last_t1(self) -> int:
        return self._t1[self.sent] if self.sent else 0

    # -- handing results to the pipe ---------------------------------------------------

    def take_samples(self) -> Samples | None:
        self.match()
        s = self._pending_samples
        if not s.seq:
            return None
        self._pending_samples = Samples([], [], [], [], [], [], [])
        return s

    def take_lost(self) -> Lost | None:
        lost = self._pending_lost
        if not lost.seq:
            return None
        self._pending_lost = Lost([], [], [])
        return lost
