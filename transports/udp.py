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

import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from transports import kernel_stamps
from transports.base import BytesOnTheWire, ClientTransport, EchoHandler, Notify, Receiver, TransportError
from transports.echo_poll import EchoPoller

log = logging.getLogger(__name__)

#: Largest datagram read: pongs over the protocol's 64 KiB limit still arrive whole and are refused later.
MAX_DATAGRAM = 65536
#: Receive buffer asked for (the kernel caps it at net.core.rmem_max): pongs and transmit stamps
#: share it, and a worker starved of CPU for a second at 1,000 pings/s must not drop either.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Pings at least this long get a pong and its follow-up ``Stamp`` no longer than themselves together
#: (the largest pong is 301 bytes with its ``received`` count, the largest stamp 70).
MIN_PING_BYTES = 376


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return sock


class UdpClient(BytesOnTheWire, ClientTransport):
    """Runner side: one connected datagram socket to the agent's echo port."""

    def __init__(self, *, reliable: bool = True) -> None:
        # UDP has one mode; ``reliable`` is accepted for a uniform constructor.
        self._sock: socket.socket | None = None
        self._receiver: Receiver | None = None
        self._tx: kernel_stamps.TxStamps | None = None
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
        self._tx = kernel_stamps.TxStamps(sock)
        self._watch = kernel_stamps.Watch(sock, self._readable)

    def _readable(self) -> None:
        """One datagram, stamped on return from ``recvmsg``; then any transmit stamps still queued.

        One per call: the loop calls again while more wait (level-triggered), and
        reading until EAGAIN would cost an exception per pong. A transmit stamp is
        normally read by ``send`` itself; this catches one the kernel queued late.
        """
        try:
            data, ancillary, _, _ = self._sock.recvmsg(
                MAX_DATAGRAM, kernel_stamps.ANCILLARY_BYTES, socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):  # woken by the error queue alone
            self._tx.drain()
            return
        except OSError:  # e.g. ECONNREFUSED once the echo is gone: its pings count as lost
            pass
        else:
            t4 = time.perf_counter_ns()
            self._receiver(data, t4, kernel_stamps.stamp_ns(ancillary))
        self._tx.take()

    def input_waiting(self) -> bool:
        """A datagram (or a transmit stamp) is ready but not read yet: after a stall the loop runs its
        timers before it polls, and housekeeping must not start in front of a pong already here."""
        return self._watch.pending()

    def take_tx_stamps(self) -> list[tuple[int, int]]:
        """Transmit stamps read so far: (send number from 0, CLOCK_REALTIME ns); empty without kernel stamps."""
        if self._tx is None:
            return []
        stamps, self._tx.read = self._tx.read, []
        return stamps if self._tx_stamps_usable else []

    def send(self, data: bytes) -> None:
        """Send, then take the send's transmit stamp (``TxStamps``)."""
        try:
            self._sock.send(data)
            if self.kernel_stamps:
                self._tx.after_send()
        except OSError:  # a full buffer or a refused port: this ping is lost, the run goes on
            # The kernel may not have numbered this send: later transmit stamps could pair with the
            # wrong pings, so t1 stays user-space from here on (timestamp_source then says "kernel for N of M").
            self._tx_stamps_usable = False

    async def close(self) -> None:
        if self._sock is not None:
            self._watch.close()
            self._sock.close()
            self._sock = None

    def versions(self) -> dict[str, str]:
        return {}


class UdpEcho:
    """Agent side: a datagram socket on ``host`` that answers each ping where it came from.

    With the kernel's transmit stamps, the handler's ``follow_up`` (the runner
    asked for ``kernel_t3``) gets each pong's and its ``Stamp`` goes out after
    the pong: the pong carries the user-space t3, stamped before it was encoded,
    the follow-up the instant it left. Pong and follow-up together are never
    longer than the ping (``MIN_PING_BYTES`` leaves room for both). With the
    handler's ``busy_poll_us`` (the runner asked, and the agent granted it),
    the loop polls while a ping is due instead of sleeping (``EchoPoller``).
    """

    def __init__(self, host: str = "127.0.0.1", *, reliable: bool = True) -> None:
        self._host = host
        self._sock: socket.socket | None = None
        self._handler: EchoHandler | None = None
        self._follow_up = None
        self._tx: kernel_stamps.TxStamps | None = None
        self._poller: EchoPoller | None = None
        self.withheld = 0  # replies longer than their ping, not sent

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        sock = _udp_socket()
        sock.bind((self._host, 0))
        refused_tx = None
        if getattr(handler, "kernel_t3", False):
            refused_tx = kernel_stamps.enable(sock, kernel_stamps.RX_FLAGS | kernel_stamps.TX_FLAGS)
            if refused_tx is None:
                self._follow_up = handler.follow_up
        if self._follow_up is None:  # receive stamps alone, which older kernels may still give
            refused = kernel_stamps.enable(sock, kernel_stamps.RX_FLAGS)
            if refused:
                log.warning("%s; t2 and t3 are user-space stamps", refused)
            elif refused_tx:
                log.warning("%s for transmit stamps; t3 is a user-space stamp", refused_tx)
        self._sock, self._handler = sock, handler
        self._tx = kernel_stamps.TxStamps(sock)
        self._watch = kernel_stamps.Watch(sock, self._readable)
        poll_us = getattr(handler, "busy_poll_us", 0)
        if poll_us:
            self._poller = EchoPoller(poll_us * 1000, self._watch.pending, self._readable)
        host, port = sock.getsockname()[:2]
        return {
            "host": host,
            "port": port,
            "min_ping_bytes": MIN_PING_BYTES,
            "kernel_t3": self._follow_up is not None,
            "busy_poll_us": poll_us,
        }

    def _readable(self) -> None:
        sock, handler, poller = self._sock, self._handler, self._poller
        read = 0
        while True:
            try:
                data, ancillary, _, addr = sock.recvmsg(MAX_DATAGRAM, kernel_stamps.ANCILLARY_BYTES)
                read += 1
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # a runner that went away: nothing to answer
                break
            if poller is not None:
                poller.arrived(time.perf_counter_ns())
            t2 = kernel_stamps.stamp_ns(ancillary)
            reply = handler(data, t2, True) if t2 else handler(data, time.time_ns(), False)
            if reply is None:
                continue
            if len(reply) > len(data):
                if not self.withheld:
                    log.warning("not answering pings shorter than their pong (%d < %d bytes)", len(data), len(reply))
                self.withheld += 1
                continue
            if self._send(reply, addr) and self._follow_up is not None:
                self._send_follow_up(len(data) - len(reply), addr)
        if read:
            self._tx.take()  # stamps the kernel queued late
        else:
            self._tx.drain()  # woken by the error queue alone
        self._tx.read.clear()
        if poller is not None:
            poller.rearm()

    def _send(self, data: bytes, addr: Any) -> bool:
        try:
            self._sock.sendto(data, addr)
        except OSError:  # a full buffer: this message is lost, as on any network
            return False
        if self._follow_up is not None:
            self._tx.after_send()
        return True

    def _send_follow_up(self, room: int, addr: Any) -> None:
        """The pong just sent left when the kernel stamped it (normally queued before ``sendto``
        returned); its ``Stamp`` follows if it fits in what the ping's length leaves."""
        read = self._tx.read  # (``_send`` took what was queued)
        if len(read) != 1:  # the pong's stamp not queued yet (or stale ones): no follow-up this time
            read.clear()
            return
        stamp = self._follow_up(read.pop()[1])
        if stamp is not None and len(stamp) <= room:
            self._send(stamp, addr)
            read.clear()

    async def close(self) -> None:
        if self._sock is not None:
            if self._poller is not None:
                self._poller.close()
            self._watch.close()
            self._sock.close()
            self._sock = None
