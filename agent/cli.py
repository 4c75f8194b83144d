"""``echo-agent``: serve one platform's echo over the HTTP control plane."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import click
from aiohttp import web
from dotenv import load_dotenv

import transports
from agent import READY_PREFIX
from agent.app import EchoAgent
from agent.rooms import CredentialError, Rooms
from ipc.lifeline import exit_with_parent


class _BadConfig(click.ClickException):
    """One line, exit 2: the same contract as the runner's bad input."""

    exit_code = 2


def rooms_for(agent_kind: str, host: str, env: dict[str, str]) -> dict[str, Rooms]:
    """Each served platform's rooms, from the environment; raises ``CredentialError`` naming what is missing."""
    return {p.name: transports.load(p.rooms).for_platform(p.name, host, env) for p in transports.AGENT_KINDS[agent_kind]}


async def serve(rooms: dict[str, Rooms], host: str, port: int) -> None:
    # Handlers first: whoever reads the ready line may stop us the next instant.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    agent = EchoAgent(rooms)
    runner = web.AppRunner(agent.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"{READY_PREFIX}http://{bound_host}:{bound_port}", flush=True)
    await stop.wait()
    await runner.cleanup()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--platform",
    type=click.Choice(sorted(transports.AGENT_KINDS)),
    default="webrtc",
    show_default=True,
    help="Platform to echo on.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (HTTP and media).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="HTTP port; 0 picks a free one. [default: "
    + ", ".join(f"{served[0].default_port} {kind}" for kind, served in transports.AGENT_KINDS.items())
    + "]",
)
@click.option("--verbose", is_flag=True, help="Log every session.")
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when this process dies (embedded use).")
def main(platform: str, host: str, port: int | None, verbose: bool, parent_pid: int | None) -> None:
    """Echo agent: answers benchmark pings with pongs carrying its receive/send instants.

    Daily needs DAILY_API_KEY (and DAILY_API_URL to use another API base);
    LiveKit needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET. They
    come from the environment or a .env file in the current folder, and are
    checked against the platform before the agent listens.
    """
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="echo-agent %(levelname)s %(message)s"
    )
    load_dotenv(Path.cwd() / ".env", override=False)
    import uvloop

    port = transports.AGENT_KINDS[platform][0].default_port if port is None else port
    try:
        rooms = rooms_for(platform, host, dict(os.environ))
        uvloop.run(serve(rooms, host, port))
    except CredentialError as exc:
        raise _BadConfig(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    main()
