"""The proxy's per-packet truth log: what happened to every datagram, and the figures it implies.

JSON lines: a header (the spec, addresses, clock), then one line per copy of a
datagram: direction, arrival index, copy (1 = the duplicate), the ping/pong
``seq`` when the payload is one of ours (null for anything else, a follow-up stamp included), size, kernel arrival instant
(SO_TIMESTAMPNS), the drawn delay, the planned release, the departure instant
(read just before the send call; null when dropped) and the fate. All instants
are CLOCK_REALTIME ns. The relay keeps raw tuples and this module turns them
into lines later, so nothing but a list append follows a departure.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO

import msgspec

#: unsent: still held when the proxy stopped; unrouted: came from upstream before any client had sent (index -1).
FATES = ("delivered", "dropped", "duplicated", "reordered", "unsent", "unrouted")


class Header(msgspec.Struct):
    impair: dict
    listen: str
    upstream: str
    clock: str = "CLOCK_REALTIME"


class Packet(msgspec.Struct):
    dir: str  # "up" runner -> agent, "down" agent -> runner
    index: int  # arrival order within the direction, from 0
    copy: int
    seq: int | None
    size: int
    arrival_ns: int
    delay_ns: int
    release_ns: int
    departure_ns: int | None
    fate: str


class _Seq(msgspec.Struct):
    type: str = ""
    seq: int | None = None


_SEQ = msgspec.json.Decoder(_Seq)
_ENCODER = msgspec.json.Encoder()


def seq_of(data: bytes) -> int | None:
    """The ``seq`` of a ping or pong of this benchmark; None for any other payload (a pong's follow-up
    stamp carries its pong's seq, and is not that pong)."""
    try:
        message = _SEQ.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return message.seq if message.type in ("ping", "pong") else None


#: What the relay appends per copy: (dir, index, copy, payload, arrival, delay, release, departure, fate).
RawRecord = tuple[str, int, int, bytes, int, int, int, "int | None", str]


class TruthWriter:
    """The header, then records in the order given; ``None`` path: keeps nothing."""

    def __init__(self, path: Path | None) -> None:
        self._file: IO[bytes] | None = open(path, "wb") if path else None  # noqa: SIM115 (closed in close())

    def header(self, header: Header) -> None:
        if self._file:
            self._file.write(_ENCODER.encode(header) + b"\n")

    def write(self, records: Iterable[RawRecord]) -> None:
        if not self._file:
            return
        lines = []
        for d, index, copy, data, arrival, delay, release, departure, fate in records:
            packet = Packet(d, index, copy, seq_of(data), len(data), arrival, delay, release, departure, fate)
            lines.append(_ENCODER.encode(packet))
        if lines:
            self._file.write(b"\n".join(lines) + b"\n")

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


def read_truth(path: Path) -> tuple[Header, list[Packet]]:
    lines = Path(path).read_bytes().splitlines()
    header = msgspec.json.decode(lines[0], type=Header)
    packet = msgspec.json.Decoder(Packet)
    return header, [packet.decode(line) for line in lines[1:] if line]


def first_departures(packets: Iterable[Packet], direction: str) -> dict[int, Packet]:
    """Per seq, the copy of that direction that left first."""
    out: dict[int, Packet] = {}
    for p in packets:
        if p.dir == direction and p.seq is not None and p.departure_ns is not None:
            if p.seq not in out or p.departure_ns < out[p.seq].departure_ns:
                out[p.seq] = p
    return out


def legs(packets: list[Packet]) -> dict[int, tuple[int, int, int]]:
    """Per seq answered through the proxy, first copies each: how long the proxy held the ping, the time
    from its departure to the pong's arrival (the wire and the agent), how long it held the pong (ns).

    The engine's RTT of that ping is their sum plus the runner's own legs
    (send call to the proxy's kernel stamp, departure to t4).
    """
    up, down = first_departures(packets, "up"), first_departures(packets, "down")
    return {
        seq: (
            up[seq].departure_ns - up[seq].arrival_ns,
            pong.arrival_ns - up[seq].departure_ns,
            pong.departure_ns - pong.arrival_ns,
        )
        for seq, pong in down.items()
        if seq in up
    }
