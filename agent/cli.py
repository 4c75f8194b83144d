"""``echo-agent``: serve one platform's echo over the HTTP control plane."""

from __future__ import annotations

import asyncio
import logging
import signal

import click
from aiohttp import web

from agent.app import EchoAgent

#: The platforms each agent kind serves; the webrtc agent also serves the UDP baseline.
AGENT_PLATFORMS = {"webrtc": ("webrtc", "udp")}
DEFAULT_PORTS = {"daily": 8000, "livekit": 8001, "webrtc": 8002}

#: The first line on stdout once serving; the runner's embedded mode reads it to learn the port.
READY_PREFIX = "echo-agent listening on "


async def serve(platform: str, host: str, port: int) -> None:
    agent = EchoAgent(AGENT_PLATFORMS[platform], host)
    runner = web.AppRunner(agent.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"{READY_PREFIX}http://{bound_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--platform",
    type=click.Choice(sorted(AGENT_PLATFORMS)),
    default="webrtc",
    show_default=True,
    help="Platform to echo on.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (HTTP and media).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="HTTP port; 0 picks a free one. [default: 8002 for webrtc]",
)
@click.option("--verbose", is_flag=True, help="Log every session.")
def main(platform: str, host: str, port: int | None, verbose: bool) -> None:
    """Echo agent: answers benchmark pings with pongs carrying its receive/send instants."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="echo-agent %(levelname)s %(message)s"
    )
    import uvloop

    try:
        uvloop.run(serve(platform, host, DEFAULT_PORTS[platform] if port is None else port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    main()
