"""Each stack's own round-trip time: how much of the application's RTT is the wire.

An application RTT alone cannot say whether a platform is slow on the wire, in
its SFU or in its SDK; the transport's own RTT (ICE, SCTP, the SFU's network
statistics) can. The readers here are called by a transport's
``read_transport_rtt`` (``transports/base.py``): on the worker in its quiet
windows, on the agent right after a pong. Each returns at once and hands
``report`` one reading, {figure: seconds}, when it has one; figure ``wire`` is
this side's share of the path, and the others say what it was made of.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from transports.base import RttReport

log = logging.getLogger(__name__)

#: Sources, as the result's metadata names them.
ICE_STUN = "ICE STUN"
LIVEKIT_ICE = "ICE candidate pairs (LiveKit get_rtc_stats)"
DAILY_NETWORK = "Daily get_network_stats networkRoundTripTime"

#: A side reads its stack's RTT at most this often (a summary of the path, not a per-ping figure).
READ_INTERVAL_NS = 250_000_000
#: Readings a side keeps at most (four a second for over an hour): its memory stays bounded.
MAX_READINGS = 20_000

#: A binding check unanswered this long is dropped (aioice's own consent checks give up after 0.5 s too).
STUN_TIMEOUT_S = 0.5


class Readings:
    """One side's readings as columns: ``at`` (perf ns), and per figure its seconds (None where a reading lacked it).

    ``report`` only appends: it runs wherever the stack answers, on the worker's loop too."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.at: list[int] = []
        self.figures: dict[str, list[float | None]] = {}

    def report(self, figures: dict[str, float]) -> None:
        n = len(self.at)
        if n >= MAX_READINGS or not figures:
            return
        self.at.append(time.perf_counter_ns())
        for name, value in figures.items():
            self.figures.setdefault(name, [None] * n).append(value)
        for column in self.figures.values():
            if len(column) == n:
                column.append(None)


class StunProbe:
    """One ICE binding check on the nominated pair, timed from its send to the arrival of its answer.

    aioice keeps no RTT, and awaiting its ``request()`` would stamp the answer a loop turn late: the probe
    registers itself as the transaction aioice hands the response to, and stamps it there, on arrival.
    """

    def __init__(self, connection: Any, pair: Any, done: Any) -> None:
        self._done = done
        self._key = connection.remote_password.encode()
        request = connection.build_request(pair, nominate=False)
        request.add_message_integrity(self._key)
        self._id = request.transaction_id
        self._transactions = pair.protocol.transactions
        self._transactions[self._id] = self
        self._timer = asyncio.get_running_loop().call_later(STUN_TIMEOUT_S, self._give_up)
        self._sent_ns = time.perf_counter_ns()
        pair.protocol.send_stun(request, pair.remote_addr)

    def response_received(self, message: Any, addr: Any) -> None:
        """aioice's call for an answer to our transaction id, straight from ``datagram_received``."""
        arrived = time.perf_counter_ns()
        if not message.check_message_integrity(self._key):
            return  # not the peer's answer: keep waiting, as aioice does
        self._finish((arrived - self._sent_ns) / 1e9 if message.message_class.name == "RESPONSE" else None)

    def _give_up(self) -> None:
        self._finish(None)

    def _finish(self, rtt_s: float | None) -> None:
        if self._transactions.pop(self._id, None) is None:
            return
        self._timer.cancel()
        self._done(rtt_s)


def read_aiortc(pc: Any, report: RttReport) -> None:
    """A peer connection's ICE STUN round trip ("wire") and its SCTP association's smoothed RTT.

    ``sctp_srtt`` is aiortc's RFC 4960 SRTT of data chunks acknowledged once (``_srtt``, None until then):
    it includes the peer's SACK processing, so it is kept beside the wire figure, not as it.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return
    srtt = getattr(sctp, "_srtt", None)
    extra = {"sctp_srtt": float(srtt)} if srtt is not None else {}
    with contextlib.suppress(AttributeError):
        connection = sctp.transport.transport._connection  # SCTP over DTLS over ICE: aioice's Connection
        pair = connection._nominated.get(1)
        if pair is not None and connection.remote_password is not None and connection.remote_username is not None:
            StunProbe(connection, pair, lambda rtt: report({"wire": rtt, **extra} if rtt is not None else extra))
            return
    if extra:
        report(extra)


def livekit_totals(stats: Any) -> dict[str, tuple[float, int]]:
    """Per peer connection (publisher, subscriber), its nominated candidate pair's ``total_round_trip_time``
    (s) and ``responses_received``: the sum and count of every ICE check answered on it so far."""
    totals = {}
    for side in ("publisher", "subscriber"):
        for item in getattr(stats, f"{side}_stats", ()):
            if item.WhichOneof("stats") != "candidate_pair":
                continue
            pair = item.candidate_pair.candidate_pair
            if pair.nominated and pair.responses_received > 0:
                totals[side] = (pair.total_round_trip_time, pair.responses_received)
                break
    return totals


def livekit_figures(totals: dict[str, tuple[float, int]], before: dict[str, tuple[float, int]]) -> dict[str, float]:
    """Each side's mean RTT over the ICE checks answered since ``before`` (all of them at the first reading);
    "wire" is their mean: a packet goes up one peer connection and comes down the other.

    Not ``current_round_trip_time``: libwebrtc reports it as 0 for seconds at a time between its checks, so a
    run of ten seconds can end without one reading; the totals hold from the first answered check on."""
    figures = {}
    for side, (total, count) in totals.items():
        old_total, old_count = before.get(side, (0.0, 0))
        if count > old_count:
            figures[side] = (total - old_total) / (count - old_count)
    if figures:
        figures["wire"] = sum(figures.values()) / len(figures)
    return figures


class LiveKitReader:
    """``Room.get_rtc_stats()`` is a coroutine (an FFI request and its answer): one at a time."""

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._before: dict[str, tuple[float, int]] = {}

    def read(self, room: Any, report: RttReport) -> None:
        if room is None or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._read(room, report))

    async def _read(self, room: Any, report: RttReport) -> None:
        try:
            totals = livekit_totals(await room.get_rtc_stats())
        except Exception as exc:  # a room closing under the request: no reading, not a failure
            log.debug("livekit stats not read: %s", exc)
            return
        figures = livekit_figures(totals, self._before)
        self._before = totals
        if figures:
            report(figures)


def daily_figures(stats: Mapping[str, Any]) -> dict[str, float]:
    """``get_network_stats()``'s latest ``networkRoundTripTime`` (seconds, Daily's RTT to its SFU, refreshed
    about every two seconds); nothing where Daily has none yet (its ``stats`` is empty early in a call)."""
    latest = (stats.get("stats") or {}).get("latest") or {}
    rtt = latest.get("networkRoundTripTime")
    return {"wire": float(rtt)} if isinstance(rtt, (int, float)) and rtt > 0 else {}


def read_daily(client: Any, report: RttReport) -> None:
    if client is None:
        return
    try:
        figures = daily_figures(client.get_network_stats())
    except Exception as exc:  # a call being released: no reading
        log.debug("daily network stats not read: %s", exc)
        return
    if figures:
        report(figures)
