"""Driving an echo agent in tests: in-process over real HTTP, or as the ``echo-agent`` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from agent.app import EchoAgent
from ipc.children import AGENT_READY_PREFIX, readline_within

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
    """This environment without any platform credentials or agent settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAILY_", "LIVEKIT_", "AGENT_", "ECHO_AGENT_"))}
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


class AgentProcess:
    """``with AgentProcess(...) as agent:`` runs ``echo-agent --platform P [FLAGS]`` until stopped; ``agent.url``.

    Its whole output (the ready line included) is kept in ``agent.output`` for
    the assertions that nothing secret was printed. ``nofile`` caps its file
    descriptors (soft and hard), as a small system would.
    """

    def __init__(
        self,
        platform: str,
        env: dict[str, str],
        cwd,
        start_timeout_s: float = 60.0,
        *,
        flags: tuple[str, ...] = (),
        nofile: int | None = None,
    ) -> None:
        self.platform, self.env, self.cwd, self.start_timeout_s = platform, env, cwd, start_timeout_s
        self.flags = flags if "--host" in flags else ("--host", "127.0.0.1", *flags)
        self.nofile = nofile
        self.url = ""
        self.output = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> AgentProcess:
        nofile = self.nofile
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--platform", self.platform, "--port", "0", *self.flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,  # credentials from ``env`` only, not a stray .env
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None,
        )
        line = readline_within(self._proc, self.start_timeout_s)
        self.output = line
        if not line.startswith(AGENT_READY_PREFIX):
            self.stop(signal.SIGKILL)
            pytest.fail(f"echo-agent --platform {self.platform} did not start: {self.output}")
        self.url = line.removeprefix(AGENT_READY_PREFIX).strip().replace("//0.0.0.0:", "//127.0.0.1:")
        return self

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal it (SIGTERM: leave every room and exit 0; SIGKILL: a crash) and collect its output."""
        if self.returncode is None and self._proc is not None:
            self._proc.send_signal(signum)
            try:
                out, err = self._proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                out, err = self._proc.communicate()
            self.output += out + err
            self.returncode = self._proc.returncode
        return self.returncode

    def __exit__(self, *exc: object) -> None:
        self.stop()
