"""The user-space UDP relay: datagrams in with their kernel arrival stamp, out on a timerfd schedule.

Clients send to the front socket; each client address gets its own socket
towards the upstream (a small NAT), so answers find their way back. One thread
waits in epoll on the sockets and a CLOCK_REALTIME timerfd armed at the next
release instant; asyncio's and libuv's timers round to whole milliseconds and
epoll's timeout too, a timerfd wakes within tens of µs. Arrival instants come
from the kernel (SO_TIMESTAMPNS on recvmsg), so the time a datagram waited for
this process to wake counts as the proxy's own hold, never as the network's.
"""

from __future__ import annotations

import heapq
import itertools
import select
import socket
import struct
import time
from collections.abc import Callable

from engine.impair.schedule import DirectionSchedule, Planned
from engine.impair.spec import ImpairSpec
from engine.impair.truth import RawRecord, TruthWriter
from ipc.timerfd import CLOCK_REALTIME, TimerFd

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_CMSG_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")
_MAX_DATAGRAM = 65536
#: Truth records are written out in chunks this big, when no release is due within FLUSH_IDLE_NS.
FLUSH_RECORDS = 4096
FLUSH_IDLE_NS = 2_000_000


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return sock


def _arrival_ns(ancdata: list) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return time.time_ns()  # no stamp (never seen on Linux): the latest instant it can have arrived


class _Datagram:
    __slots__ = ("direction", "payload", "send", "sent")

    def __init__(self, direction: str, payload: bytes, send: Callable[[bytes], object]) -> None:
        self.direction, self.payload, self.send, self.sent = direction, payload, send, False


class Relay:
    """Relays ``listen`` <-> ``upstream`` with the spec's impairments until ``serve``'s stop fd is readable."""

    def __init__(
        self, spec: ImpairSpec, listen: tuple[str, int], upstream: tuple[str, int], truth: TruthWriter
    ) -> None:
        self._upstream = upstream
        self._truth = truth
        self._front = _udp_socket()
        self._front.bind(listen)
        self.address: tuple[str, int] = self._front.getsockname()[:2]
        self._schedules = {d: DirectionSchedule(getattr(spec, d), spec.seed, d) for d in ("up", "down")}
        self._backs: dict[tuple[str, int], socket.socket] = {}
        self._clients: dict[int, tuple[socket.socket, tuple[str, int] | None]] = {}
        self._heap: list[tuple[int, int, Planned]] = []
        self._order = itertools.count()
        self._last_index = {"up": -1, "down": -1}  # highest arrival index departed so far
        self._records: list[RawRecord] = []
        self._timer = TimerFd(CLOCK_REALTIME)  # not an event-loop or epoll timeout: those round to whole ms
        self._armed_at = 0
        self._epoll = select.epoll()
        self._epoll.register(self._front.fileno(), select.EPOLLIN)
        self._epoll.register(self._timer.fd, select.EPOLLIN)
        # The first client's socket towards the upstream exists from the start, so its address can be
        # announced before that client sends (WebRTC: the runner's ICE candidate in its answer).
        self._first_back: socket.socket | None = self._new_back(None)
        self.back_address: tuple[str, int] = self._first_back.getsockname()[:2]

    def serve(self, stop_fd: int) -> None:
        self._epoll.register(stop_fd, select.EPOLLIN)
        front, timer = self._front.fileno(), self._timer.fd
        while True:
            for fd, _ in self._epoll.poll():
                if fd == stop_fd:
                    return
                if fd == timer:
                    self._timer.clear()
                elif fd == front:
                    self._drain(self._front, "up")
                else:
                    back, client = self._clients[fd]
                    self._drain(back, "down", client)
            self._release_due()
            if self._heap and self._heap[0][0] != self._armed_at:
                self._armed_at = self._heap[0][0]
                self._timer.arm_at(self._armed_at)
            if len(self._records) >= FLUSH_RECORDS and (
                not self._heap or self._heap[0][0] - time.time_ns() > FLUSH_IDLE_NS
            ):
                self._flush()

    def close(self) -> None:
        """Record what never left (still delayed or held when stopped), write the log, release everything."""
        for _, _, plan in sorted(self._heap, key=lambda e: e[1]):
            if not plan.item.sent:
                plan.item.sent = True
                for copy in range(plan.copies):
                    self._record(plan, copy, None, "unsent")
        self._heap.clear()
        self._flush()
        self._truth.close()
        for sock in [self._front, *(back for back, _ in self._clients.values())]:
            sock.close()
        self._timer.close()
        self._epoll.close()

    # -- in ------------------------------------------------------------------------

    def _new_back(self, client: tuple[str, int] | None) -> socket.socket:
        back = _udp_socket()
        back.connect(self._upstream)
        self._clients[back.fileno()] = (back, client)
        self._epoll.register(back.fileno(), select.EPOLLIN)
        return back

    def _back_for(self, client: tuple[str, int]) -> socket.socket:
        back = self._backs.get(client)
        if back is None:
            back, self._first_back = self._first_back or self._new_back(client), None
            self._backs[client] = back
            self._clients[back.fileno()] = (back, client)
        return back

    def _drain(self, sock: socket.socket, direction: str, client: tuple[str, int] | None = None) -> None:
        schedule = self._schedules[direction]
        while True:
            try:
                payload, ancdata, _, sender = sock.recvmsg(_MAX_DATAGRAM, _CMSG_SPACE)
            except BlockingIOError:
                return
            except ConnectionRefusedError:  # the upstream's ICMP "port unreachable" for an earlier datagram
                continue
            if direction == "down" and client is None:  # from the upstream before any client: nowhere to go
                self._records.append(("down", -1, 0, payload, _arrival_ns(ancdata), 0, 0, None, "unrouted"))
                continue
            if direction == "up":
                send = self._back_for(sender[:2]).send
            else:
                send = lambda data, front=self._front, to=client: front.sendto(data, to)  # noqa: E731
            for plan in schedule.admit(_arrival_ns(ancdata), _Datagram(direction, payload, send)):
                if not plan.copies:
                    self._record(plan, 0, None, "dropped")
                    continue
                key = schedule.hold_deadline(plan) if plan.held else plan.release_ns
                heapq.heappush(self._heap, (key, next(self._order), plan))

    # -- out -----------------------------------------------------------------------

    def _release_due(self) -> None:
        heap = self._heap
        while heap and heap[0][0] <= time.time_ns():
            key, _, plan = heapq.heappop(heap)
            d = plan.item
            if d.sent:
                continue
            if plan.held:  # no successor came to release it
                self._schedules[d.direction].give_up_hold(plan)
            elif key != plan.release_ns:
                continue  # superseded by the entry its successor scheduled
            d.sent = True
            for copy in range(plan.copies):
                departure = time.time_ns()
                try:
                    d.send(d.payload)
                except OSError:
                    self._record(plan, copy, None, "dropped")
                    continue
                self._record(plan, copy, departure, self._fate(plan, copy))

    def _fate(self, plan: Planned, copy: int) -> str:
        direction = plan.item.direction
        last = self._last_index[direction]
        self._last_index[direction] = max(last, plan.index)
        if copy:
            return "duplicated"
        return "reordered" if plan.index < last else "delivered"

    def _record(self, p: Planned, copy: int, departure: int | None, fate: str) -> None:
        d = p.item
        self._records.append(
            (d.direction, p.index, copy, d.payload, p.arrival_ns, p.delay_ns, p.release_ns, departure, fate)
        )

    def _flush(self) -> None:
        records, self._records = self._records, []
        self._truth.write(records)
