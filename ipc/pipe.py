"""Moving frames over a one-way ``multiprocessing`` pipe without stalling the worker.

The worker side writes through an asyncio write transport, so a slow parent
fills a user-space buffer instead of blocking the uvloop that stamps pings.
Frames use the same 4-byte big-endian length prefix as
``multiprocessing.connection.Connection``, so the parent reads them with the
standard ``recv_bytes`` and multiplexes any number of workers with
``multiprocessing.connection.wait``.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait

from ipc import frames

_HEADER = struct.Struct("!i")


class FrameWriter:
    """Worker end: non-blocking, buffered frame writes on the running loop."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport

    @classmethod
    async def open(cls, fd: int) -> FrameWriter:
        """Take over the pipe's write end ``fd`` (the transport closes it)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, os.fdopen(fd, "wb", buffering=0))
        return cls(transport)

    def send(self, frame: frames.Frame) -> None:
        payload = frames.encode(frame)
        self._transport.write(_HEADER.pack(len(payload)) + payload)

    @property
    def buffered(self) -> int:
        """Bytes written but not yet taken by the pipe (the parent is behind by this much)."""
        return self._transport.get_write_buffer_size()

    async def drain_and_close(self, timeout: float = 5.0) -> None:
        """Flush what is buffered (bounded in time), then close the pipe."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        self._transport.close()


def read_frames(conns: Sequence[Connection], timeout: float) -> Iterator[tuple[Connection, frames.Frame | None]]:
    """Yield ``(conn, frame)`` for every frame ready within ``timeout`` seconds.

    ``frame`` is ``None`` when that worker's pipe reached end of file (it exited,
    cleanly or not); the caller drops the connection from its set.
    """
    for conn in wait(list(conns), timeout):
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            yield conn, None
            continue
        yield conn, frames.decode(data)
