"""The echo: one ping in, one pong out, with the agent's receive/send instants.

Kept apart from every transport so all platforms answer exactly alike.
"""

from __future__ import annotations

import logging
import time

import msgspec

from engine.worker.protocol import ENCODER, MAX_MESSAGE_BYTES, PING_DECODER, Pong

log = logging.getLogger(__name__)


class Echo:
    """``handler(payload, t2_ns, t2_kernel)`` for an ``EchoEndpoint``; counts what it could not answer."""

    def __init__(self) -> None:
        self.message_count = 0
        self.malformed = 0

    def __call__(self, data: bytes, t2_ns: int, t2_kernel: bool = False) -> bytes | None:
        try:
            if len(data) > MAX_MESSAGE_BYTES:
                raise msgspec.ValidationError(f"{len(data)} bytes is over the limit")
            ping = PING_DECODER.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if not self.malformed:
                log.warning("ignoring malformed ping: %s", exc)
            self.malformed += 1
            return None
        self.message_count += 1
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
            )
        )
