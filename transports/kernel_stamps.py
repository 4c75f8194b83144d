"""Kernel software timestamps on a datagram socket (SO_TIMESTAMPING), read with plain ``recvmsg``.

A receive stamp is taken by the kernel when the datagram reaches the socket,
before any process is woken; a transmit stamp when it leaves for the device.
Both are CLOCK_REALTIME nanoseconds. Receive stamps come as ancillary data of
``recvmsg``; transmit stamps wait on the socket's error queue (which makes the
socket readable with EPOLLERR), numbered per send by ``OPT_ID``. asyncio's
datagram protocol drops ancillary data, hence the sockets here are read by hand.
The kernel switches receive stamping on lazily (net_enable_timestamp defers it to
a work item) when no socket used it before: a datagram in the first instants after
``enable`` may come unstamped, and its sample then carries user-space stamps.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import struct
from collections.abc import Callable

SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)  # 37 on x86-64 and arm64
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11

RX_FLAGS = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
TX_FLAGS = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY

#: Set (to anything but "" or "0") to make both ends use user-space stamps: a test hook,
#: and a way to compare the two on a host where the kernel gives stamps.
FORCE_USER_ENV = "RTC_BENCH_USER_STAMPS"

#: Room for one ``scm_timestamping`` (three timespecs) and one ``sock_extended_err`` + address.
ANCILLARY_BYTES = socket.CMSG_SPACE(48) + socket.CMSG_SPACE(16 + 16)

_TIMESPEC = struct.Struct("qq")
#: ``struct sock_extended_err``: errno, origin, type, code, pad, info, data (the OPT_ID counter).
_EXTENDED_ERR = struct.Struct("IBBBBII")
_SO_EE_ORIGIN_TIMESTAMPING = 4


def forced_user() -> bool:
    return os.environ.get(FORCE_USER_ENV, "") not in ("", "0")


def enable(sock: socket.socket, flags: int) -> str | None:
    """Ask the kernel for stamps; None when it agreed, else why not (for the one warning)."""
    if forced_user():
        return f"kernel timestamps turned off by {FORCE_USER_ENV}"
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
    except OSError as exc:
        return f"the kernel refused SO_TIMESTAMPING ({exc.strerror or exc})"
    return None


def stamp_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The software stamp (CLOCK_REALTIME ns) in a ``recvmsg`` ancillary list; 0 when there is none."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return 0


def read_tx_stamps(sock: socket.socket, out: list[tuple[int, int]], most: int) -> int:
    """Move up to ``most`` stamps from the error queue into ``out`` as (send number from 0,
    CLOCK_REALTIME ns) pairs; returns how many entries it took off the queue. Bounded, so that a
    caller that knows how many are due never pays for the EAGAIN (an exception) after the last."""
    taken = 0
    while taken < most:
        try:
            _, ancillary, _, _ = sock.recvmsg(0, ANCILLARY_BYTES, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        taken += 1
        ns, send_number = 0, -1
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                sec, nsec = _TIMESPEC.unpack_from(data)
                ns = sec * 1_000_000_000 + nsec
            elif len(data) >= _EXTENDED_ERR.size:
                _, origin, _, _, _, _, key = _EXTENDED_ERR.unpack_from(data)
                if origin == _SO_EE_ORIGIN_TIMESTAMPING:
                    send_number = key
        if ns and send_number >= 0:
            out.append((send_number, ns))
    return taken


#: Most error-queue entries read when a reader was woken by them alone.
ERROR_QUEUE_DRAIN = 1024


class TxStamps:
    """The transmit stamps a socket owes, one per stamped send, read into ``read``.

    Each is taken right after its send (the kernel queues it before the send call
    returns on most paths; left queued it would wake the loop with EPOLLERR a moment
    later for the same system call plus a loop round), or by the reader when one came
    late. Counting what is owed means no read ends in EAGAIN, an exception per ping.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._due = 0
        self.read: list[tuple[int, int]] = []  # (send number from 0, CLOCK_REALTIME ns)

    def after_send(self) -> None:
        self._due += 1
        self.take()

    def take(self) -> None:
        """Read the stamps owed that are queued by now."""
        if self._due:
            self._due -= read_tx_stamps(self._sock, self.read, self._due)

    def drain(self) -> None:
        """For a reader woken with no datagram: empty the error queue whatever it holds (an entry not
        counted would otherwise wake it forever)."""
        self._due = max(0, self._due - read_tx_stamps(self._sock, self.read, ERROR_QUEUE_DRAIN))


class Watch:
    """Calls ``readable()`` on the running loop whenever ``sock`` has a datagram or an error-queue entry.

    libuv stops a watched fd for good on EPOLLERR, which the error queue raises after
    every stamped send: the loop watches an epoll set holding the socket instead, which
    is only ever readable.
    """

    def __init__(self, sock: socket.socket, readable: Callable[[], None]) -> None:
        self._set = select.epoll()
        self._set.register(sock.fileno(), select.EPOLLIN)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._set.fileno(), readable)

    def pending(self) -> bool:
        """Something is waiting that the reader has not taken yet."""
        return bool(self._set.poll(0))

    def close(self) -> None:
        self._loop.remove_reader(self._set.fileno())
        self._set.close()
