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

from ipc.clocks.anchors import Anchor
from ipc.frames import KERNEL_T1, KERNEL_T2, KERNEL_T3, KERNEL_T4, Lost, Samples
from ipc.protocol import DECODE_ERRORS, STAMP_DECODER, STAMP_PREFIX, decode_pong, encode_ping_sized
from transports.base import BytesOnTheWire

log = logging.getLogger(__name__)

# States of one seq in ``Session._state``.
_PENDING, _RECEIVED, _LOST = 0, 1, 2

#: Loss is declared this long after a ping's timeout, so a pong stamped on an
#: SDK thread just inside the timeout is not declared lost before it reaches the loop.
LOSS_GRACE_NS = 50_000_000

COUNTERS = ("late", "duplicate", "out_of_order", "malformed", "unknown")

#: Pongs remembered for when the next ones are due; until this many came back there is no estimate.
RECENT_ARRIVALS = 8
#: Samples looked at, newest first, for the one a follow-up ``Stamp`` belongs to (it comes right after its pong).
STAMP_SEARCH = 8
#: A kernel t3 later than the pong's user-space t3 by more than this is not believed (the pong left at once).
MAX_T3_LEAD_NS = 1_000_000_000

#: Pings looked at, newest first, for a pong due: the check runs after every arrival, and after a
#: stall (a huge estimate) scanning every ping in flight would cost more than the stall itself.
SCAN_LIMIT = 64


def no_tx_stamps() -> list[tuple[int, int]]:
    """The transmit stamps of a transport the kernel stamps nothing for."""
    return []


def _new_samples() -> Samples:
    return Samples([], [], [], [], [], [], [], [], [], [])


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
        tx_stamps: Callable[[], list[tuple[int, int]]] = no_tx_stamps,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        """``to_wire``/``from_wire`` convert between ping/pong bytes and what the transport sends and
        receives (Daily's app messages are JSON objects): pings when they are encoded ahead of time,
        pongs when they are matched, so neither conversion lands between t1 and t4. ``tx_stamps``
        yields the kernel's transmit stamps as (send number from 0, CLOCK_REALTIME ns); they are
        paired with pings when pongs are matched, never on the send path. ``clock`` stamps t1; it is
        ``time.perf_counter_ns`` (the anchor's clock) except in tests, which move it forward to put pings
        a given time apart instead of sleeping."""
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
        self._tx_stamps = tx_stamps
        self._clock = clock
        # Kernel stamps are CLOCK_REALTIME: perf(t) = wall(t) - wall_minus_perf, through the worker's
        # anchor. An RTT with both ends kernel-stamped is a difference of two wall stamps, so the
        # anchor's uncertainty cancels; it enters only where a kernel stamp meets a user one.
        self._wall_minus_perf = anchor.wall_ns - anchor.perf_ns
        n = self.total + 1  # index 0 unused: seqs start at 1
        # Flat typed arrays: 8 bytes a ping, where lists of ints would cost ~40.
        self._due = array("q", bytes(8 * n))
        self._t1 = array("q", bytes(8 * n))
        self._t1_kernel = array("q", bytes(8 * n))  # 0 until the kernel's transmit stamp is paired
        self._timestamp = array("d", bytes(8 * n))  # the ping's "timestamp" field, non-decreasing
        self._state = bytearray(n)
        self._agent_count = array("q", bytes(8 * n))  # each pong's running count of pings the agent received, 0: none
        self._next_payload: Any = None
        self._inbox: list[tuple[Any, int, int]] = []
        self._stamps_waiting = 0  # follow-up Stamps (each pong's kernel t3) in the inbox, behind their pongs
        self._stamps_come = False  # a follow-up Stamp was applied: the newest sample may still get one
        self.arrivals = 0  # messages received, matched or not: the reply poller watches it
        self.sent = 0
        self.resolved = 0  # measured pings received or lost
        self._settled = 0  # pings received or lost, warmup included
        self._loss_cursor = 1
        self._max_seq_seen = 0
        self.legacy_agent = False
        # When pongs reach this host after their ping: RFC 6298's smoothed estimate and the last few.
        self.srtt: int | None = None
        self.rttvar = 0
        self._recent_arrivals = array("q", bytes(8 * RECENT_ARRIVALS))
        self._rtt_count = 0
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.late_seqs: list[int] = []  # pings whose pong came after the timeout, for the report's late marks
        self.duplicate_seqs: list[int] = []  # one entry per extra pong of a measured ping (--stream's duplicate lines)
        self._pending_samples = _new_samples()
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

    def prepare_next(self) -> None:
        """Encode the ping after the last one sent, unless it is ready (housekeeping, in a quiet window)."""
        if self._next_payload is None and 0 < self.sent < self.total:
            self.prepare(self._due[self.sent] + self._interval)

    def send(self, k: int, due_ns: int) -> None:
        """Pacer callback for ping index k (seq k+1); the next ping is encoded later, in a quiet window
        (``prepare_next``), or here, before t1, if none came in time."""
        if self._next_payload is None:
            self.prepare(due_ns)
        payload = self._next_payload
        t1 = self._clock()
        self._send(payload)
        seq = k + 1
        self._t1[seq] = t1
        self._due[seq] = due_ns
        self.sent = seq
        self._next_payload = None

    # -- receiving ------------------------------------------------------------------

    def on_receive(self, data: Any, t4: int, t4_kernel_wall: int = 0) -> None:
        """The transport's receiver: keep the stamped message; conversion, decoding and matching wait for ``match()``.
        A follow-up ``Stamp`` waits in the inbox behind its pong, counted apart (``awaits_pong`` counts pongs)."""
        self._inbox.append((data, t4, t4_kernel_wall))
        if type(data) is bytes and data.startswith(STAMP_PREFIX):
            self._stamps_waiting += 1
        else:
            self.arrivals += 1

    def match(self, limit: int | None = None) -> None:
        """Pair transmit stamps, then decode and match what was received, oldest first: everything,
        or at most ``limit`` messages (a round of housekeeping does a bounded amount of work)."""
        self._pair_tx_stamps()
        if limit is None or limit >= len(self._inbox):
            batch, self._inbox = self._inbox, []
        else:
            batch = self._inbox[:limit]
            del self._inbox[:limit]
        for data, t4, t4_kernel_wall in batch:
            if self._stamps_waiting and type(data) is bytes and data.startswith(STAMP_PREFIX):
                self._stamps_waiting -= 1
                self._apply_stamp(data)
            else:
                self._match_one(self._from_wire(data), t4, t4_kernel_wall)

    def _apply_stamp(self, data: bytes) -> None:
        """Put a pong's kernel t3 in its sample (matched just before: the stamp came right behind the
        pong), if that is still here: t3 and processing move to it. A stamp that cannot be right
        (before the user-space t3, or long after it) is ignored, and the sample keeps the user-space
        t3 (``timestamp_source`` then says for how many samples t3 is the kernel's)."""
        try:
            stamp = STAMP_DECODER.decode(data)
        except DECODE_ERRORS as exc:
            self._count("malformed", exc)
            return
        s = self._pending_samples
        for i in range(len(s.seq) - 1, max(-1, len(s.seq) - 1 - STAMP_SEARCH), -1):
            if s.seq[i] != stamp.seq:
                continue
            t2, t3 = s.t2[i], s.t3[i]
            if t2 and t3 <= stamp.t3_ns <= t3 + MAX_T3_LEAD_NS and not s.kernel[i] & KERNEL_T3:
                s.t3[i] = stamp.t3_ns
                s.processing_ns[i] = stamp.t3_ns - t2
                s.kernel[i] |= KERNEL_T3
                self._stamps_come = True
            return

    @property
    def unmatched(self) -> int:
        """Messages received and not matched yet."""
        return len(self._inbox)

    def _pair_tx_stamps(self) -> None:
        """Send number k is seq k+1: the session hands the transport exactly one send per seq, in order."""
        to_perf = self._wall_minus_perf
        for send_number, wall in self._tx_stamps():
            seq = send_number + 1
            if seq <= self.sent:
                self._t1_kernel[seq] = wall - to_perf

    def _match_one(self, data: bytes, t4_user: int, t4_kernel_wall: int) -> None:
        try:
            pong = decode_pong(data)
        except DECODE_ERRORS as exc:
            self._count("malformed", exc)
            return
        seq = pong.seq
        if seq is None:
            seq = self._seq_for_timestamp(pong.client_timestamp)
        if seq is None or not 1 <= seq <= self.sent:
            self._count("unknown", f"seq={pong.seq} client_timestamp={pong.client_timestamp}")
            return
        if pong.received is not None and not self._agent_count[seq]:  # the first pong of a seq is the first answer
            self._agent_count[seq] = pong.received
        state = self._state[seq]
        measured = seq > self.warmup  # warmup pongs enter no count (docs/metrics.md: no statistic at all)
        if state == _RECEIVED:
            if measured:
                self._count("duplicate", f"seq={seq}")
                self.duplicate_seqs.append(seq)
            return
        kernel = 0
        t1 = t1_user = self._t1[seq]
        if self._t1_kernel[seq]:
            t1 = self._t1_kernel[seq]
            kernel = KERNEL_T1
        t4 = t4_user
        if t4_kernel_wall:
            t4 = t4_kernel_wall - self._wall_minus_perf
            kernel |= KERNEL_T4
        self._observe_arrival(t4 - t1_user)
        if state == _LOST or t4 - t1 > self.timeout_ns:
            if measured:
                self._count("late", f"seq={seq} after {(t4 - t1) / 1e6:.1f} ms")
                self.late_seqs.append(seq)
            if state == _PENDING:
                self._mark_lost(seq)
            return
        self._state[seq] = _RECEIVED
        self._settled += 1
        if seq < self._max_seq_seen and measured:
            self._count("out_of_order", f"seq={seq} after {self._max_seq_seen}")
        self._max_seq_seen = max(self._max_seq_seen, seq)
        if not measured:
            return
        self.resolved += 1
        if pong.t2_ns is not None and pong.t3_ns is not None:
            t2, t3 = pong.t2_ns, pong.t3_ns
            processing = t3 - t2
            if pong.t2_kernel:
                kernel |= KERNEL_T2
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
        s.t1_user.append(t1_user)
        s.t4_user.append(t4_user)
        s.kernel.append(kernel)

    def _observe_arrival(self, arrival: int) -> None:
        """``arrival``: from t1 to the pong reaching this host (the kernel's stamp where there is one, so
        that this worker's own stalls do not widen every window; else the user-space t4)."""
        recent = self._recent_arrivals
        recent[self._rtt_count % len(recent)] = arrival
        self._rtt_count += 1
        if self.srtt is None:
            self.srtt, self.rttvar = arrival, arrival // 2
        else:
            self.rttvar += (abs(arrival - self.srtt) - self.rttvar) // 4
            self.srtt += (arrival - self.srtt) // 8

    # -- when pongs are due ---------------------------------------------------------------

    @property
    def knows_when_pongs_come(self) -> bool:
        return self._rtt_count >= RECENT_ARRIVALS

    def awaits_pong(self, now_ns: int, before_ns: int, after_ns: int) -> bool:
        """Whether a pong may reach this host between ``before_ns`` ahead of now and ``after_ns`` past it.

        Ping i's pong is expected in [t1 + low, t1 + high]: low the earliest of the last
        ``RECENT_ARRIVALS`` arrivals, high their smoothed mean + one deviation (RFC 6298's
        srtt + rttvar; a pong later than that is late, and waiting for every straggler
        would leave no quiet window on a jittery path). Pings already answered or lost do
        not count, nor, of all those still pending, the oldest as many as pongs wait
        unmatched in the inbox (pongs come back in order; a ping lost unnoticed only makes
        this cautious). Without an estimate yet (``knows_when_pongs_come``) there is no
        telling: False, so that the first pongs are matched as they come and teach it.
        """
        if not self.knows_when_pongs_come:
            return False
        low, high = min(self._recent_arrivals), self.srtt + self.rttvar
        awaited = []
        seq = self.sent
        while seq >= 1 and self._t1[seq] + high + after_ns >= now_ns:
            if seq <= self.sent - SCAN_LIMIT:  # more in flight than a quiet window could fit between
                return True
            if self._state[seq] == _PENDING:
                awaited.append(seq)
            seq -= 1
        older = self.sent - self._settled - len(awaited)  # pending, but past their window: answered first
        answered = max(0, len(self._inbox) - self._stamps_waiting - older)
        del awaited[max(0, len(awaited) - answered) :]  # newest first: drop the oldest
        return any(self._t1[seq] + low - before_ns <= now_ns for seq in awaited)

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
        self._settled += 1
        if seq <= self.warmup:
            return
        self.resolved += 1
        lost = self._pending_lost
        lost.seq.append(seq)
        lost.due.append(self._due[seq])
        lost.t1.append(self._t1[seq])

    def lost_directions(self) -> tuple[list[int], list[int]]:
        """Measured lost seqs whose direction the pongs' running counts tell: (upstream, downstream).

        A lost ping whose (late) pong came back reached the agent. Between two pings a < b whose pongs
        carry counts c_a and c_b, the agent received c_b − c_a − 1 others: none of the pings between
        without a pong → all of them died on the way out; all of them → their pongs died on the way
        back; anything else (or a ping after the last counted pong) stays unknown. Exact without
        reordering; /disconnect's final set, when the runner hears it, replaces this guess."""
        count, state = self._agent_count, self._state
        up: list[int] = []
        down: list[int] = []
        last = 0  # the last seq with a count
        for seq in range(1, self.sent + 1):
            if not count[seq]:
                continue
            if state[seq] == _LOST and seq > self.warmup:
                down.append(seq)
            if last and seq - last > 1:
                between = range(last + 1, seq)
                silent = [s for s in between if not count[s]]
                reached = count[seq] - count[last] - 1 - (len(between) - len(silent))
                target = up if reached == 0 else down if reached == len(silent) else None
                if target is not None:
                    target.extend(s for s in silent if state[s] == _LOST and s > self.warmup)
            last = seq
        down.sort()
        up.sort()
        return up, down

    @property
    def all_resolved(self) -> bool:
        return self.resolved >= self.total - self.warmup

    @property
    def last_t1(self) -> int:
        return self._t1[self.sent] if self.sent else 0

    # -- handing results to the pipe ---------------------------------------------------

    @property
    def pending_samples(self) -> int:
        """Samples matched and not taken yet."""
        return len(self._pending_samples.seq)

    def take_samples(self, match_all: bool = True, limit: int | None = None) -> Samples | None:
        """What was matched since the last call (its oldest ``limit`` samples, with a limit); first
        everything received, unless ``match_all`` is false. Without ``match_all`` (mid-run) the newest
        sample waits for the next batch while its follow-up ``Stamp`` may still be on its way."""
        if match_all:
            self.match()
        s = self._pending_samples
        count = len(s.seq)
        if not match_all and self._stamps_come and count and not s.kernel[-1] & KERNEL_T3:
            count -= 1
        if limit is not None:
            count = min(count, limit)
        if not count:
            return None
        if count < len(s.seq):
            columns = [getattr(s, name) for name in s.__struct_fields__]
            head = Samples(*(column[:count] for column in columns))
            for column in columns:
                del column[:count]
            return head
        self._pending_samples = _new_samples()
        return s

    def take_lost(self) -> Lost | None:
        lost = self._pending_lost
        if not lost.seq:
            return None
        self._pending_lost = Lost([], [], [])
        return lost
