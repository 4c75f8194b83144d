"""Process entry: serve until SIGTERM/SIGINT, then tell every participant to leave and exit.

Prints ``listening on ws://HOST:PORT`` once it accepts joins and, on the way
out, ``stats {"relayed": {label: packets}, "keepalives": n}`` so a test can see
which channels carried what.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal

from aiohttp import web

from tests.livekit_loopback import READY_PREFIX, STATS_PREFIX
from tests.livekit_loopback.signalling import PING_INTERVAL_S, PING_TIMEOUT_S, LoopbackServer


async def serve(args: argparse.Namespace, key: str, secret: str) -> None:
    server = LoopbackServer(key, secret, args.ping_interval, args.ping_timeout)
    runner = web.AppRunner(server.app(), access_log=None)  # the access log would show every join's token
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"{READY_PREFIX}ws://{args.host}:{args.port}", flush=True)
    await stop.wait()
    await runner.cleanup()  # on_shutdown sends everyone a leave first
    print(STATS_PREFIX + json.dumps({"relayed": dict(server.relayed), "keepalives": server.pings}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.livekit_loopback", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=7880)
    parser.add_argument(
        "--ping-interval", type=int, default=PING_INTERVAL_S, help="keepalive interval given to SDKs (s)"
    )
    parser.add_argument("--ping-timeout", type=int, default=PING_TIMEOUT_S, help="keepalive timeout given to SDKs (s)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    key, secret = os.environ.get("LIVEKIT_API_KEY", ""), os.environ.get("LIVEKIT_API_SECRET", "")
    if not key or not secret:
        parser.error("set LIVEKIT_API_KEY and LIVEKIT_API_SECRET: the server verifies join tokens with them")
    logging.basicConfig(level=logging.WARNING, format="loopback %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tests.livekit_loopback").setLevel(args.log_level)  # joins and leaves; not aioice's chatter
    asyncio.run(serve(args, key, secret))


if __name__ == "__main__":
    main()
