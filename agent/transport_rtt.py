"""The echo's own side of the transport RTT, returned in the /disconnect reply.

On an SFU platform the path is runner↔SFU plus SFU↔agent: the runner reads
its leg, the agent this one, the same way (transports/transport_rtt.py). The
agent has no schedule of its own; right after a pong is its quiet moment (the
next ping is a send interval away), so a reading starts then, at most every
``READ_INTERVAL_NS``, one loop turn after the pong so the pong's own send goes first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.echo import Echo
from transports.base import NO_TRANSPORT_RTT, EchoEndpoint
from transports.transport_rtt import READ_INTERVAL_NS, Readings


class EchoSide(Readings):
    """The handler an endpoint echoes with: ``echo``'s pong, then now and then a reading of ``endpoint``.

    Pongs may be built on an SDK's thread (Daily): readings always run on the agent's loop."""

    def __init__(self, echo: Echo, source: str) -> None:
        super().__init__(source)
        self._echo = echo
        self._loop = asyncio.get_running_loop()
        self._last: int | None = None
        self.endpoint: EchoEndpoint | None = None

    def __call__(self, data: bytes, t2_ns: int, t2_kernel: bool = False) -> bytes | None:
        pong = self._echo(data, t2_ns, t2_kernel)
        if pong is not None and self.endpoint is not None:
            now = time.perf_counter_ns()
            if self._last is None or now - self._last >= READ_INTERVAL_NS:
                self._last = now
                self._loop.call_soon_threadsafe(self._loop.call_soon, self._read)
        return pong

    def _read(self) -> None:
        if self.endpoint is not None:
            self.endpoint.read_transport_rtt(self.report)

    def reply(self) -> dict[str, Any]:
        """``transport_rtt`` of the /disconnect reply: the source and each figure's seconds per reading."""
        return {"source": self.source, "figures": self.figures}


def echo_side(echo: Echo, endpoint_class: type) -> EchoSide | None:
    """The reading handler for an endpoint whose stack measures its RTT; None for one that does not (udp)."""
    source = getattr(endpoint_class, "transport_rtt_source", NO_TRANSPORT_RTT)
    return EchoSide(echo, source) if source != NO_TRANSPORT_RTT else None
