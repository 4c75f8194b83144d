"""The transport's own RTT readings of one run, sent to the parent before Done.

The housekeeper starts each reading in a quiet window (``read``); the stack
answers then or later on the loop, and the answer is only appended
(``transports.transport_rtt.Readings``): the parent turns the columns into the
wire's share of the RTT (engine/parent/analysis/breakdown.py).
"""

from __future__ import annotations

from ipc.frames import TransportRtt
from transports.base import NO_TRANSPORT_RTT, ClientTransport
from transports.transport_rtt import Readings


class RttReadings(Readings):
    """``read`` for the housekeeper; ``frame()`` for the parent, None where the stack gives none."""

    def __init__(self, transport: ClientTransport) -> None:
        super().__init__(transport.transport_rtt_source)
        self._transport = transport
        self.readable = self.source != NO_TRANSPORT_RTT

    def read(self) -> None:
        self._transport.read_transport_rtt(self.report)

    def frame(self) -> TransportRtt | None:
        return TransportRtt(self.source, self.at, self.figures) if self.readable else None
