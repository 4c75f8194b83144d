"""Housekeeping in quiet windows: everything a worker does besides sending and stamping.

Matching and decoding pongs, encoding the next ping, declaring losses,
shipping samples to the parent and Python's cyclic GC all cost loop time; a
pong that arrives meanwhile is stamped late (user t4) and a ping leaves late.
Measured on main before this module: the late t4 stamps bunched at the phase
of the 50 ms shipping period. So each of those runs only when no pong is
expected within a guard interval (send time + running RTT estimate, from the
session) and the next send is not that close either; a batch still leaves
within ``MAX_SHIP_DELAY_NS`` whatever the traffic, so progress and sinks flow.

Runs are triggered right after a pong arrives (the quietest moment of a
ping/pong cycle) and by a slow timer for runs without pongs. A round that
starts in a quiet window must also end before the next send: each step goes
ahead only if its cost so far (a running mean, measured per step) fits
in the time left, and what does not fit waits for the next window. Each run
is written to an ``EventLog``, a preallocated ring a test can read.
"""

from __future__ import annotations

import asyncio
import gc
import time
from array import array
from collections.abc import Callable

from engine.worker.session import Session
from ipc.pipe import FrameWriter
from transports.transport_rtt import READ_INTERVAL_NS

#: Longest a batch of samples waits for a quiet window.
MAX_SHIP_DELAY_NS = 250_000_000
#: Half-width of the window around a pong's expected arrival kept free, and the room a run
#: needs before the next send; capped at a quarter of the send interval for fast schedules.
GUARD_NS = 200_000
#: Room left before the next send when a quiet round plans its steps (their costs are running means).
SEND_MARGIN_NS = 20_000
#: How often the timer looks for a quiet window when no pong comes to trigger one.
TIMER_S = 0.01
#: Young objects before a collection by hand (CPython's own first threshold).
GC_THRESHOLD = 700
#: Pongs one round decodes and matches at most, so that no round is long; when rounds are rare
#: (no quiet window on a jittery path) a backlog this long makes a bounded round go ahead anyway.
MATCH_BUDGET = 32

#: Matched samples that make a batch worth shipping before the flush interval: at fast schedules a
#: batch of 50 ms no longer fits between two sends, and shipping it anyway would delay several.
SHIP_AFTER = 64
#: Samples that go whether or not a window holds them: a bounded batch is a bounded stall (and the
#: worker's memory stays flat) where waiting for the shipping deadline would let it grow unbounded.
MAX_BATCH = 4 * SHIP_AFTER
#: Weight of the newest duration in each step's running cost (RFC 6298's 1/8): one slow round
#: (a stall of the machine) must not keep a step out of every window for long.
COST_GAIN = 0.125

#: The transport's own RTT is read at most this often (transports/transport_rtt.py).
RTT_READ_INTERVAL_NS = READ_INTERVAL_NS

#: Kinds of log entries. RUN spans one whole round; its start is when the window was judged quiet.
#: A reading of the transport's RTT starts only with this many times its mean cost to spare before the next
#: send: it is optional (a later quiet round reads instead), a ping it delays is not, and its cost varies more
#: than the others' (a STUN check's HMAC, an FFI request).
READ_HEADROOM = 3
#: READ_RTT: a reading of the transport's own RTT started (transports/transport_rtt.py), quiet rounds only.
MATCH, PREPARE, EXPIRE, SHIP, GC, RUN, READ_RTT = 1, 2, 3, 4, 5, 6, 7
#: Or-ed into an entry's kind when it went ahead without a quiet window, or without room before the
#: next send (the shipping deadline, a long backlog).
FORCED = 16


class EventLog:
    """Preallocated ring of (kind, start perf ns, end perf ns): recording allocates nothing."""

    def __init__(self, capacity: int = 8192) -> None:
        self._entries = array("q", bytes(24 * capacity))
        self._capacity = capacity
        self.count = 0

    def add(self, kind: int, start: int, end: int) -> None:
        entries, i = self._entries, 3 * (self.count % self._capacity)
        entries[i], entries[i + 1], entries[i + 2] = kind, start, end
        self.count += 1

    def entries(self) -> list[tuple[int, int, int]]:
        """The entries still held, oldest first."""
        n = min(self.count, self._capacity)
        first = self.count - n
        out = []
        for k in range(first, self.count):
            i = 3 * (k % self._capacity)
            out.append((self._entries[i], self._entries[i + 1], self._entries[i + 2]))
        return out


class Housekeeper:
    """Runs a worker's housekeeping in quiet windows; ``start()`` after setup, ``stop()`` at the end."""

    def __init__(
        self,
        session: Session,
        writer: FrameWriter,
        *,
        interval_ns: int,
        flush_interval_ns: int,
        next_send_ns: Callable[[], int | None],
        input_waiting: Callable[[], bool] = lambda: False,
        events: EventLog | None = None,
        watch: Callable[[int], None] = lambda now: None,
        read_rtt: Callable[[], None] | None = None,
    ) -> None:
        """``watch(now)`` runs with each shipment: cheap checks on counters (a silent echo). ``read_rtt``
        starts one reading of the transport's own RTT, in a quiet round, every ``RTT_READ_INTERVAL_NS`` at most."""
        self._session = session
        self._watch = watch
        self._read_rtt = read_rtt
        self._last_read: int | None = None
        self._writer = writer
        self._flush_interval = flush_interval_ns
        self._next_send = next_send_ns
        self._input_waiting = input_waiting
        self.guard_ns = min(GUARD_NS, interval_ns // 4) if interval_ns > 0 else GUARD_NS
        self.events = events or EventLog()
        self._loop = asyncio.get_running_loop()
        self._last_ship = time.perf_counter_ns()
        self._triggered = False
        self._stopped = False
        self._timer: asyncio.Task | None = None
        # Running means of each step's duration (ns; matching per pong, shipping per sample): what a window must hold.
        self._cost = dict.fromkeys((MATCH, PREPARE, EXPIRE, SHIP, GC, READ_RTT), 0.0)

    def start(self) -> None:
        """Setup's objects move to the permanent generation; from here on the GC runs only by hand."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self._last_ship = time.perf_counter_ns()
        self._timer = self._loop.create_task(self._tick())

    async def stop(self) -> None:
        """No round runs after this, not even one an arrival queued: the transport closes next."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            try:
                await self._timer
            except asyncio.CancelledError:
                pass
        gc.unfreeze()
        gc.enable()

    def after_arrival(self) -> None:
        """Call after each message reaches the session: one run is queued right behind the receive."""
        if not self._triggered:
            self._triggered = True
            self._loop.call_soon(self._triggered_run)

    def quiet(self, now: int) -> bool:
        """A run started now (taking up to a guard) stays a guard away from every pong window and
        ends before the next send; never while the transport holds input the loop has not read.
        Until the session knows when pongs come (its first few, the warmup's by default) every
        round may run: matching them is how it learns."""
        guard = self.guard_ns
        if self._session.awaits_pong(now, 2 * guard, guard) or self._input_waiting():
            return False
        send = self._next_send()
        return send is None or send - now > guard

    def run(self) -> None:
        """One round of housekeeping if the loop is quiet now (or a batch is overdue, or the backlog long).

        In a quiet round each step goes ahead only if it fits before the next send
        (``_fits``): matching as many pongs as fit (``MATCH_BUDGET`` at most), declaring
        losses only once nothing waits unmatched (a pong in the inbox must not be declared
        lost), shipping once ``SHIP_AFTER`` samples wait or the flush interval passed (small
        batches fit where a large one would not). Without a quiet window only what is owed
        runs, flagged ``FORCED``: a batch ``MAX_SHIP_DELAY_NS`` old or ``MAX_BATCH`` long, a
        bounded match of a long backlog.
        """
        now = time.perf_counter_ns()
        session = self._session
        quiet = self.quiet(now)
        overdue = now - self._last_ship >= MAX_SHIP_DELAY_NS or session.pending_samples >= MAX_BATCH
        backlog = session.unmatched >= MATCH_BUDGET
        if not (quiet or overdue or backlog):
            return
        send = self._next_send()
        end = send - SEND_MARGIN_NS if send is not None else None
        decided = now
        matchable = min(session.unmatched, MATCH_BUDGET)
        if quiet and end is not None and self._cost[MATCH]:
            matchable = min(matchable, max(1, int((end - now) / self._cost[MATCH])))
        match_fits = quiet and self._fits(MATCH, now, end)
        if match_fits or backlog:
            now = self._step(MATCH, match_fits, now, lambda: session.match(matchable), max(matchable, 1))
        if quiet and self._fits(PREPARE, now, end):
            now = self._step(PREPARE, True, now, session.prepare_next)
        if quiet and not session.unmatched and self._fits(EXPIRE, now, end):
            now = self._step(EXPIRE, True, now, lambda: session.expire(now))
        ship_due = now - self._last_ship >= self._flush_interval or session.pending_samples >= SHIP_AFTER
        pending = fitting = session.pending_samples
        if end is not None and self._cost[SHIP]:
            fitting = min(pending, int((end - now) / self._cost[SHIP]))  # the oldest that fit; the rest waits
        # (with no sample waiting, a shipment still carries the losses and runs the watch)
        ship_fits = quiet and ship_due and (fitting > 0 or (pending == 0 and self._fits(SHIP, now, end)))
        batch = fitting if ship_fits and not overdue else pending
        if ship_fits or overdue:
            start = now
            now = self._step(SHIP, ship_fits, now, lambda: self.ship(limit=batch), max(batch, 1))
            self._watch(start)
            self._last_ship = now
        young = gc.get_count()[0]
        if quiet and young >= GC_THRESHOLD and self._fits(GC, now, end, young):
            now = self._step(GC, True, now, lambda: gc.collect(1), young)
        if quiet and self._read_rtt is not None and self._fits(READ_RTT, now, end, READ_HEADROOM):
            if self._last_read is None or now - self._last_read >= RTT_READ_INTERVAL_NS:
                self._last_read = now
                now = self._step(READ_RTT, True, now, self._read_rtt)
        self.events.add(RUN if quiet else RUN | FORCED, decided, now)

    def _fits(self, kind: int, now: int, end: int | None, units: int = 1) -> bool:
        return end is None or now + self._cost[kind] * units <= end

    def _step(self, kind: int, fits: bool, start: int, work: Callable[[], object], units: int = 1) -> int:
        """Run one step, log it (``FORCED`` unless it ``fits``) and update its cost estimate; returns when it ended."""
        work()
        now = time.perf_counter_ns()
        self.events.add(kind if fits else kind | FORCED, start, now)
        cost = self._cost
        cost[kind] += ((now - start) / units - cost[kind]) * COST_GAIN if cost[kind] else (now - start) / units
        return now

    def ship(self, match_all: bool = False, limit: int | None = None) -> None:
        """Send what was matched (everything received, with ``match_all``; the oldest ``limit`` samples,
        with a limit) and what was lost to the parent."""
        samples = self._session.take_samples(match_all, limit)
        if samples is not None:
            self._writer.send(samples)
        lost = self._session.take_lost()
        if lost is not None:
            self._writer.send(lost)

    def _triggered_run(self) -> None:
        self._triggered = False
        if not self._stopped:
            self.run()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TIMER_S)
            self.run()
