"""Driving an echo agent in tests: in-process over real HTTP, or as the ``echo-agent`` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys

import aiohttp
from aiohttp import web

from agent.app import EchoAgent

#: Every in-process scenario is bounded as a whole.
BOUND_S = 15.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, BOUND_S))


@contextlib.asynccontextmanager
async def serving(echo_agent: EchoAgent):
    """The agent's aiohttp app on 127.0.0.1 (free port), as ``echo-agent`` serves it; yields its URL."""
    runner = web.AppRunner(echo_agent.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def call(http: aiohttp.ClientSession, method: str, url: str, **kw) -> tuple[int, object]:
    async with http.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


def agent_env(**extra: str) -> dict[str, str]:
    """This environment without any platform credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAILY_", "LIVEKIT_"))}
    env.update(extra)
    return env


def run_agent(tmp_path, platform: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``echo-agent --platform P`` expected to stop by itself (bad credentials)."""
    return subprocess.run(
        [sys.executable, "-m", "agent", "--platform", platform, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,  # no .env of the checkout
    )
