"""``echo-agent``: serve one platform's echo over the HTTP control plane."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import resource
import signal
from pathlib import Path

import click
from aiohttp import web
from dotenv import load_dotenv

import transports
from agent.app import DEFAULT_MAX_SESSIONS, MAX_SESSION_S, EchoAgent
from agent.connections import BACKLOG, ConnectionCap, connection_limit
from agent.rooms import CredentialError, Rooms
from ipc.children import AGENT_READY_PREFIX
from ipc.clocks import discipline
from ipc.errors import BenchError
from ipc.lifeline import exit_with_parent

TOKEN_ENV = "AGENT_TOKEN"


class _BadConfig(click.ClickException):
    """One line, exit 2: the same contract as the runner's bad input."""

    exit_code = 2


#: Where each platform's echo sessions live, as "module:Class": an agent imports only the SDKs of what it serves.
ROOMS = {
    "daily": "agent.daily_rooms:DailyRooms",
    "livekit": "agent.livekit_rooms:LiveKitRooms",
    "webrtc": "agent.rooms:LocalRooms",
    "udp": "agent.rooms:LocalRooms",
}


def rooms_for(agent_kind: str, host: str, env: dict[str, str]) -> dict[str, Rooms]:
    """Each served platform's rooms, from the environment; raises ``CredentialError`` naming what is missing."""
    return {p.name: transports.load(ROOMS[p.name]).for_platform(p.name, host, env) for p in transports.AGENT_KINDS[agent_kind]}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may name any interface
        return False


def _raise_fd_limit() -> int:
    """Up to the hard limit, for more connections and sessions at once; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def serve(agent: EchoAgent, host: str, port: int, idle_timeout_s: float, max_connections: int) -> None:
    # Handlers first: whoever reads the ready line may stop us the next instant.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # aiohttp's keep-alive timer starts at accept and is not extended by partial data: a client
    # that sends no complete request within it (idle, or slowloris's trickled headers) is closed.
    runner = web.AppRunner(agent.app(), access_log=None, keepalive_timeout=idle_timeout_s)
    await runner.setup()
    ConnectionCap(runner.server, max_connections)
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"{AGENT_READY_PREFIX}http://{bound_host}:{bound_port}", flush=True)
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
@click.option(
    "--max-sessions",
    type=click.IntRange(1),
    envvar="ECHO_AGENT_MAX_SESSIONS",
    show_envvar=True,
    default=DEFAULT_MAX_SESSIONS,
    show_default=True,
    help="Sessions open at once; /connect answers 429 beyond.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0.1, 3600),
    envvar="ECHO_AGENT_IDLE_TIMEOUT_S",
    show_envvar=True,
    default=10.0,
    show_default=True,
    help="Seconds an HTTP connection may go without a complete request before it is closed.",
)
@click.option("--verbose", is_flag=True, help="Log every session.")
@click.option(
    "--max-session-s",
    type=click.IntRange(1),
    envvar="ECHO_AGENT_MAX_SESSION_S",
    default=MAX_SESSION_S,
    show_default=True,
    show_envvar=True,
    help="Longest session granted; a runner asks for its run's length and is told when it was capped.",
)
@click.option("--clock-source", "clock_source_", envvar=discipline.ENV, show_envvar=True, metavar=discipline.METAVAR,
              help="Where this host's clock bound is read, for /connect and /disconnect (docs/metrics.md). [default: auto]")  # fmt: skip
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when this process dies (embedded use).")
def cli(
    platform: str,
    host: str,
    port: int | None,
    max_sessions: int,
    idle_timeout: float,
    verbose: bool,
    max_session_s: int,
    clock_source_: str | None,
    parent_pid: int | None,
) -> None:
    """Echo agent: answers benchmark pings with pongs carrying its receive/send instants.

    Daily needs DAILY_API_KEY (and DAILY_API_URL to use another API base);
    LiveKit needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET. They
    come from the environment or a .env file in the current folder, and are
    checked against the platform before the agent listens.

    On any address but loopback the agent needs AGENT_TOKEN (environment or
    .env): runners must send it as 'Authorization: Bearer <token>'. Put TLS in
    front of an agent that others reach over a network you do not trust.
    """
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="echo-agent %(levelname)s %(message)s"
    )
    import uvloop

    port = transports.AGENT_KINDS[platform][0].default_port if port is None else port
    if math.isnan(idle_timeout):  # FloatRange lets NaN through: it compares false with both bounds
        raise _BadConfig("--idle-timeout must be a number of seconds, got nan")
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and not is_loopback(host):
        raise _BadConfig(
            f"{TOKEN_ENV} is not set: an agent on {host} serves anyone who reaches it; "
            "set it in the environment or .env (runners send it too)"
        )
    try:
        source = discipline.from_env(clock_source_)
    except BenchError as exc:
        raise _BadConfig(str(exc)) from None
    max_connections = connection_limit(_raise_fd_limit(), max_sessions)
    try:
        agent = EchoAgent(
            rooms_for(platform, host, dict(os.environ)),
            max_session_s,
            token=token,
            max_sessions=max_sessions,
            clock_source=source,
        )
        uvloop.run(serve(agent, host, port, idle_timeout, max_connections))
    except CredentialError as exc:
        raise _BadConfig(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def main() -> None:
    """The ``echo-agent`` script: ``.env`` first, so its values stand in for flags as the environment's do."""
    load_dotenv(Path.cwd() / ".env", override=False)
    cli(prog_name="echo-agent")


if __name__ == "__main__":
    main()
