"""The small interface every platform transport implements.

A transport moves bytes and stamps receive instants; it knows nothing of
pings, sessions or pipes (DESIGN.md). The runner side is a ``ClientTransport``;
the agent side is an ``EchoEndpoint`` that hands each inbound message to a
handler and sends back whatever the handler returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

#: ``receiver(payload, t4_ns)`` — t4 is ``time.perf_counter_ns()`` taken first
#: thing in the transport's receive callback, before any parsing or loop hop.
Receiver = Callable[[bytes, int], None]

#: ``handler(payload, t2_ns) -> reply or None`` — t2 is ``time.time_ns()`` taken
#: first thing on receipt; the handler stamps t3 itself just before returning.
EchoHandler = Callable[[bytes, int], "bytes | None"]

#: ``notify(kind, detail)`` — something the user should hear about mid-run (kind
#: "warning"), e.g. the echo participant left. Called on the worker's event loop.
Notify = Callable[[str, str], None]


class TransportError(Exception):
    """A transport could not connect or lost its connection; the message is for the user."""


class ClientTransport(Protocol):
    """Runner side of one platform."""

    #: What ``connect`` is waiting for right now, for the error when it times out.
    waiting_for: str

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        """Join using the agent's /connect credentials; return once sends can start."""

    def send(self, data: bytes) -> None:
        """Queue ``data`` for sending; must not block (the caller stamps t1 right before)."""

    async def close(self) -> None:
        """Leave and release everything; safe to call twice."""

    def versions(self) -> dict[str, str]:
        """Versions of the SDKs this transport runs on, for the result metadata."""


class EchoEndpoint(Protocol):
    """Agent side of one platform session."""

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        """Start echoing; return the platform's credentials for the runner."""

    async def close(self) -> None:
        """Stop echoing and release everything; safe to call twice."""
