"""The echo: one ping in, one pong out, with the agent's receive/send instants.

Kept apart from every transport so all platforms answer exactly alike. A ping
with a ``seq`` (our runner) gets a pong with the agent's wall-clock instants in
ns; a ping without one (the original voice-rtc-bench runner) gets the pong the
original echo agent sends: ``client_timestamp``, ``server_receive_time``,
``server_send_time`` in ``perf_counter`` milliseconds (the clock that runner
stamps its pings with and subtracts them from) and ``message_count``, nothing else.
"""

from __future__ import annotations

import logging
import time

import msgspec

from ipc.clocks.anchors import take_anchor
from ipc.protocol import DECODE_ERRORS, ENCODER, MAX_MESSAGE_BYTES, PING_DECODER, Pong, Stamp
from ipc.received import ReceivedSeqs

log = logging.getLogger(__name__)


class Echo:
    """``handler(payload, t2_ns, t2_kernel)`` for an ``EchoEndpoint``; counts what it could not answer.

    With a ``run_id`` it answers only pings carrying it: the session's runner
    and no one else (a UDP echo would otherwise reflect to any spoofed source).
    ``kernel_t3``: the runner asked for each pong's kernel transmit stamp, which a
    transport that has it sends after the pong (``follow_up``). ``busy_poll_us``:
    the runner asked the echo to poll, not sleep, while a ping is due (udp).
    """

    def __init__(self, run_id: str | None = None, *, kernel_t3: bool = False, busy_poll_us: int = 0) -> None:
        self.run_id = run_id
        self.kernel_t3 = kernel_t3
        self.busy_poll_us = busy_poll_us
        self._last_seq: int | None = None  # the seq of the pong just built, None for a legacy one
        self.message_count = 0
        self.received = ReceivedSeqs()  # which of our runner's pings came: its count goes in each pong, its ranges to /disconnect
        self.malformed = 0
        self.foreign = 0
        # Transports stamp t2 on the wall clock; a legacy pong needs it on the monotonic one.
        anchor = take_anchor()
        self._wall_minus_perf_ns = anchor.wall_ns - anchor.perf_ns

    def __call__(self, data: bytes, t2_ns: int, t2_kernel: bool = False) -> bytes | None:
        try:
            if len(data) > MAX_MESSAGE_BYTES:
                raise msgspec.ValidationError(f"{len(data)} bytes is over the limit")
            ping = PING_DECODER.decode(data)
        except DECODE_ERRORS as exc:
            if not self.malformed:
                log.warning("ignoring malformed ping: %s", exc)
            self.malformed += 1
            return None
        if self.run_id is not None and ping.run_id != self.run_id:
            if not self.foreign:
                log.warning("ignoring pings of another run (run_id %r)", ping.run_id[:40])
            self.foreign += 1
            return None
        self.message_count += 1
        self._last_seq = ping.seq
        if ping.seq is None:
            return ENCODER.encode(
                Pong(
                    client_timestamp=ping.timestamp,
                    server_receive_time=(t2_ns - self._wall_minus_perf_ns) / 1e6,
                    server_send_time=time.perf_counter_ns() / 1e6,
                    message_count=self.message_count,
                )
            )
        received = self.received.add(ping.seq)
        t3_ns = time.time_ns()
        return ENCODER.encode(
            Pong(
                seq=ping.seq,
                client_timestamp=ping.timestamp,
                server_receive_time=t2_ns / 1e6,
                server_send_time=t3_ns / 1e6,
                message_count=self.message_count,
                t2_ns=t2_ns,
                t3_ns=t3_ns,
                t2_kernel=t2_kernel,
                received=received,
            )
        )

    def follow_up(self, t3_kernel_ns: int) -> bytes | None:
        """The ``Stamp`` for the pong just answered, given when it left; None unless it was asked for."""
        if not self.kernel_t3 or self._last_seq is None:
            return None
        return ENCODER.encode(Stamp(seq=self._last_seq, t3_ns=t3_kernel_ns))
