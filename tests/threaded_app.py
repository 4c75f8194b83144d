"""An aiohttp app served on 127.0.0.1 by its own loop in a thread.

Stand-ins (an agent, Daily's REST API, LiveKit's validate endpoint) run apart
from the code under test, so a test can reach them from its own event loop,
from plain blocking code and from a subprocess alike.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class ThreadedApp:
    """``with Sub() as s:`` serves ``s.make_app()`` on a free port, ``s.port``, until the block ends."""

    def __init__(self) -> None:
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=type(self).__name__, daemon=True)
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        """Serve the app; subclasses that need more (a socket) extend this."""
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()

    def __enter__(self):
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
