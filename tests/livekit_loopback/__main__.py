"""Process entry: serve until SIGTERM/SIGINT, then tell every participant to leave and exit.

Prints ``listening on ws://HOST:PORT`` once it accepts joins and, on the way
out, ``relayed {label: count}`` so a test can see which channels carried what.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal

from aiohttp import web

from tests.livekit_loopback.signalling import LoopbackServer


async def serve(host: str, port: int, key: str, secret: str) -> None:
    server = LoopbackServer(key, secret)
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on ws://{host}:{port}", flush=True)
    await stop.wait()
    await runner.cleanup()  # on_shutdown sends everyone a leave first
    print(f"relayed {json.dumps(dict(server.relayed), sort_keys=True)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.livekit_loopback", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=7880)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="loopback %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port, os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"]))


if __name__ == "__main__":
    main()
