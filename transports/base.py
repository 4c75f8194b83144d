"""The small interface every platform transport implements.

A transport moves bytes and stamps receive instants; it knows nothing of
pings, sessions or pipes (docs/ARCHITECTURE.md). The runner side is a ``ClientTransport``;
the agent side is an ``EchoEndpoint`` that hands each inbound message to a
handler and sends back whatever the handler returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

#: ``receiver(message, t4_ns[, t4_kernel_wall_ns])`` — t4 is ``time.perf_counter_ns()``
#: taken first thing in the transport's receive callback, before any parsing or
#: loop hop; a transport that reads the kernel's receive stamp passes it too
#: (CLOCK_REALTIME ns, 0 when the datagram had none), unconverted: the session
#: puts it on the perf_counter timeline later. ``message`` is as the transport
#: got it (``from_wire`` makes it bytes later).
Receiver = Callable[..., None]

#: ``handler(payload, t2_ns[, t2_kernel]) -> reply or None`` — t2 is wall time in ns:
#: the kernel's receive stamp when ``t2_kernel`` is true, else ``time.time_ns()``
#: taken first thing on receipt; the handler stamps t3 itself just before returning.
#: An echo that learns when its pong left (udp's kernel transmit stamp) hands that to the
#: handler's ``follow_up(t3_kernel_ns)`` and sends what it returns, if anything, after the pong.
EchoHandler = Callable[..., "bytes | None"]

#: ``notify(kind, detail)`` — something the user should hear about mid-run, called
#: on the worker's event loop. "warning": the run goes on (the echo participant
#: left: later pings are lost). "error": the platform dropped this runner, so no
#: pong can come any more; the run stops and keeps what it measured.
Notify = Callable[[str, str], None]

#: ``report(figures)`` — one reading of the stack's own RTT, {figure: seconds}. Figure "wire" is this
#: side's share of the path (the one the summary adds up); the others say what it was made of.
RttReport = Callable[[dict[str, float]], None]

#: ``transport_rtt_source`` of a stack that gives no RTT of its own: the result then says it is missing.
NO_TRANSPORT_RTT = "none"


class TransportRttReader(Protocol):
    """Optional feature of both sides (``ClientTransport``, ``EchoEndpoint``): the stack's own RTT.

    A transport inherits these defaults unless its stack measures the path itself (ICE, SCTP, an SFU's
    network stats); ``transports/transport_rtt.py`` holds the readers.
    """

    #: Where the figures come from, for the result's metadata; ``NO_TRANSPORT_RTT`` where the stack gives none.
    transport_rtt_source: str = NO_TRANSPORT_RTT

    def read_transport_rtt(self, report: RttReport) -> None:
        """Start one reading; ``report`` gets it now or later on the event loop, or never (no figure yet).
        Called in quiet windows and must return at once; nothing by default."""


class TransportError(Exception):
    """A transport could not connect or lost its connection; the message is for the user."""


class BytesOnTheWire:
    """``to_wire``/``from_wire`` of a transport that sends and receives the bytes themselves."""

    @staticmethod
    def to_wire(data: bytes) -> bytes:
        return data

    @staticmethod
    def from_wire(message: bytes) -> bytes:
        return message


class ClientTransport(TransportRttReader, Protocol):
    """Runner side of one platform."""

    #: What ``connect`` is waiting for right now, for the error when it times out.
    waiting_for: str

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        """Join using the agent's /connect credentials; return once sends can start."""

    def to_wire(self, data: bytes) -> Any:
        """A ping's bytes in the form ``send`` takes; called when the ping is encoded, ahead of its send."""

    def from_wire(self, message: Any) -> bytes:
        """A received message as bytes; called when pongs are matched, off the receive path."""

    def send(self, payload: Any) -> None:
        """Queue ``to_wire``'s payload for sending; must not block (the caller stamps t1 right before)."""

    async def close(self) -> None:
        """Leave and release everything; safe to call twice."""

    def versions(self) -> dict[str, str]:
        """Versions of the SDKs this transport runs on, for the result metadata."""

    # What follows has a default here: a transport inherits it (``class X(ClientTransport)``) unless it does better.

    #: t4 is the kernel's receive stamp, so it does not wait for this process to wake (the worker then never polls).
    kernel_stamps: bool = False

    def take_tx_stamps(self) -> list[tuple[int, int]]:
        """The kernel's transmit stamps read so far, as (send number from 0, CLOCK_REALTIME ns), for a
        transport whose every ``send`` is one datagram (udp); none by default."""
        return []

    def input_waiting(self) -> bool:
        """Whether something arrived that the loop has not read yet (housekeeping then waits for it)."""
        return False


class EchoEndpoint(TransportRttReader, Protocol):
    """Agent side of one platform session."""

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        """Start echoing; return the platform's credentials for the runner."""

    async def close(self) -> None:
        """Stop echoing and release everything; safe to call twice."""
