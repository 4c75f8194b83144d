"""Raw UDP echo: the baseline that shows what the engine itself adds to an RTT.

Both ends read their sockets with ``recvmsg`` from a loop reader, so the
kernel's receive stamp (t4 here, t2 at the echo) comes with each datagram; the
runner also gets each ping's transmit stamp (t1) from the error queue. When the
kernel refuses, or ``RTC_BENCH_USER_STAMPS`` is set, user-space stamps are used
and the runner hears one warning.

UDP has no handshake, so the echo answers whatever source address a datagram
names: it never sends more bytes than it received (no amplification), and its
credentials tell the runner to pad pings to ``MIN_PING_BYTES``, which holds
the largest pong the protocol allows.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import time
from collections.abc import Mapping
from typing import Any

from transports import kernel_stamps
from transports.base import BytesOnTheWire, EchoHandler, Notify, Receiver, TransportError

log = logging.getLogger(__name__)

#: Largest datagram read: pongs over the protocol's 64 KiB limit still arrive whole and are refused later.
MAX_DATAGRAM = 65536
#: Receive buffer asked for (the kernel caps it at net.core.rmem_max): pongs and transmit stamps
#: share it, and a worker starved of CPU for a second at 1,000 pings/s must not drop either.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Most error-queue entries read when the loop was woken by them alone.
ERROR_QUEUE_DRAIN = 1024
#: Pings at least this long get a pong no longer than themselves (the largest pong is 270 bytes).
MIN_PING_BYTES = 288


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return sock


class UdpClient(BytesOnTheWire):
    """Runner side: one connected datagram socket to the agent's echo port."""

    def __init__(self, *, reliable: bool = True) -> None:
        # UDP has one mode; ``reliable`` is accepted for a uniform constructor.
        self._sock: socket.socket | None = None
        self._receiver: Receiver | None = None
        self._tx_stamps: list[tuple[int, int]] = []
        self._stamps_due = 0  # sends whose transmit stamp is not read yet
        self.kernel_stamps = False
        self._tx_stamps_usable = True
        self.waiting_for = "the udp socket"

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        try:
            host, port = str(credentials["host"]), int(credentials["port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TransportError(f"udp credentials need host and port, got {dict(credentials)!r}") from exc
        sock = _udp_socket()
        try:
            sock.connect((host, port))
        except OSError as exc:
            sock.close()
            raise TransportError(f"udp: cannot reach {host}:{port}: {exc.strerror or exc}") from exc
        refused = kernel_stamps.enable(sock, kernel_stamps.RX_FLAGS | kernel_stamps.TX_FLAGS)
        if refused:
            notify("warning", f"{refused}; t1 and t4 are user-space stamps")
        self.kernel_stamps = refused is None
        self._sock, self._receiver = sock, receiver
        # libuv stops a watched fd for good on EPOLLERR, which the error queue raises after every
        # send: the loop watches an epoll set holding the socket instead, which is only ever readable.
        self._watch = select.epoll()
        self._watch.register(sock.fileno(), select.EPOLLIN)
        asyncio.get_running_loop().add_reader(self._watch.fileno(), self._readable)

    def _readable(self) -> None:
        """One datagram, stamped on return from ``recvmsg``; then any transmit stamps still queued.

        One per call: the loop calls again while more wait (level-triggered), and
        reading until EAGAIN would cost an exception per pong. A transmit stamp is
        normally read by ``send`` itself; this catches one the kernel queued late.
        """
        sock = self._sock
        try:
            data, ancillary, _, _ = sock.recvmsg(MAX_DATAGRAM, kernel_stamps.ANCILLARY_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):  # woken by the error queue alone: empty it whatever it holds,
            taken = kernel_stamps.read_tx_stamps(sock, self._tx_stamps, ERROR_QUEUE_DRAIN)  # or it wakes us forever
            self._stamps_due = max(0, self._stamps_due - taken)
            return
        except OSError:  # e.g. ECONNREFUSED once the echo is gone: its pings count as lost
            pass
        else:
            t4 = time.perf_counter_ns()
            self._receiver(data, t4, kernel_stamps.stamp_ns(ancillary))
        if self._stamps_due:
            self._stamps_due -= kernel_stamps.read_tx_stamps(sock, self._tx_stamps, self._stamps_due)

    def input_waiting(self) -> bool:
        """A datagram (or a transmit stamp) is ready but not read yet: after a stall the loop runs its
        timers before it polls, and housekeeping must not start in front of a pong already here."""
        return bool(self._watch.poll(0))

    def take_tx_stamps(self) -> list[tuple[int, int]]:
        """Transmit stamps read so far: (send number from 0, CLOCK_REALTIME ns); empty without kernel stamps."""
        stamps, self._tx_stamps = self._tx_stamps, []
        return stamps if self._tx_stamps_usable else []

    def send(self, data: bytes) -> None:
        """Send, then take the send's transmit stamp at once: the kernel queues it before ``send``
        returns on most paths, and left queued it would wake the loop (EPOLLERR) a moment later
        for the same system call plus a loop round."""
        try:
            self._sock.send(data)
            if self.kernel_stamps:
                self._stamps_due += 1 - kernel_stamps.read_tx_stamps(self._sock, self._tx_stamps, 1)
        except OSError:  # a full buffer or a refused port: this ping is lost, the run goes on
            # The kernel may not have numbered this send: later transmit stamps could pair with the
            # wrong pings, so t1 stays user-space from here on (timestamp_source then says "kernel for N of M").
            self._tx_stamps_usable = False

    async def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._watch.fileno())
            self._watch.close()
            self._sock.close()
            self._sock = None

    def versions(self) -> dict[str, str]:
        return {}


class UdpEcho:
    """Agent side: a datagram socket on ``host`` that answers each ping where it came from."""

    def __init__(self, host: str = "127.0.0.1", *, reliable: bool = True) -> None:
        self._host = host
        self._sock: socket.socket | None = None
        self._handler: EchoHandler | None = None
        self.withheld = 0  # replies longer than their ping, not sent

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        sock = _udp_socket()
        sock.bind((self._host, 0))
        refused = kernel_stamps.enable(sock, kernel_stamps.RX_FLAGS)
        if refused:
            log.warning("%s; t2 is a user-space stamp", refused)
        self._sock, self._handler = sock, handler
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        host, port = sock.getsockname()[:2]
        return {"host": host, "port": port, "min_ping_bytes": MIN_PING_BYTES}

    def _readable(self) -> None:
        sock, handler = self._sock, self._handler
        while True:
            try:
                data, ancillary, _, addr = sock.recvmsg(MAX_DATAGRAM, kernel_stamps.ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a runner that went away: nothing to answer
                return
            t2 = kernel_stamps.stamp_ns(ancillary)
            reply = handler(data, t2, True) if t2 else handler(data, time.time_ns(), False)
            if reply is None:
                continue
            if len(reply) > len(data):
                if not self.withheld:
                    log.warning("not answering pings shorter than their pong (%d < %d bytes)", len(data), len(reply))
                self.withheld += 1
                continue
            try:
                sock.sendto(reply, addr)
            except OSError:  # a full buffer: this pong is lost, as on any network
                pass

    async def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
