"""Shared helpers: run the real CLI as a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from agent.echo import Echo
from ipc.children import AGENT_READY_PREFIX
from testbed import victoria as vm
from tests.livekit_loopback.launch import ServerProcess
from tests.netns import veth_namespace
from tests.processes import BENCHMARK_RUNNER
from transports.udp import UdpEcho

ROOT = Path(__file__).resolve().parent.parent


#: The installed console script, as users run it (its workers must not re-run it).
CLI = [BENCHMARK_RUNNER]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without a developer's benchmark, INFLUXDB_*, AGENT_* or spool settings, plus ``env``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ITERATIONS", "TIMEOUT_MS", "COOLDOWN_MS", "LOCATION_ID", "WARMUP", "PAYLOAD_BYTES", "CLOCK_MODE"}
        and not k.startswith(("INFLUXDB_", "RTC_BENCH_", "AGENT_", "ECHO_AGENT_"))
    }
    clean.update(env or {})
    return clean


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``benchmark-runner ARGS`` in a fresh process; never inherits a developer's .env or INFLUXDB_* settings."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=cli_env(env), cwd=cwd or ROOT
    )


@pytest.fixture
def cli(tmp_path):
    """Runs the CLI in an empty folder, so no .env of the checkout leaks in."""
    return lambda *args, **kw: run_cli(*args, cwd=kw.pop("cwd", tmp_path), **kw)


@pytest.fixture
def victoria(tmp_path):
    """A real VictoriaMetrics server on 127.0.0.1 (skips, or fails in CI, when it is not installed)."""
    with vm.running(tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def veth():
    """A network namespace with a veth pair to this one (root only, else skipped); always removed."""
    with veth_namespace() as ns:
        yield ns


@pytest.fixture
def livekit_server(veth, tmp_path):
    """The loopback LiveKit server on the namespace side of ``veth``; stopped after the test."""
    server = ServerProcess(veth, tmp_path / "livekit-loopback.log").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def udp_echo() -> Iterator[dict]:
    """The agent's real UDP echo on 127.0.0.1, served by its own loop in a thread."""
    with serving_udp_echo(Echo()) as credentials:
        yield credentials


@contextlib.contextmanager
def serving_udp_echo(echo: Echo) -> Iterator[dict]:
    """udp credentials of the agent's real UDP echo answering with ``echo``, on its own loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    endpoint = UdpEcho("127.0.0.1")
    credentials = asyncio.run_coroutine_threadsafe(endpoint.start(echo), loop).result(10)
    try:
        yield credentials
    finally:
        asyncio.run_coroutine_threadsafe(endpoint.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def scripted_echo(rtt_us: int, busy: bool = False) -> Iterator[dict]:
    """udp credentials of a ``tests.scripted_echo`` process holding each pong ``rtt_us`` (polling without
    sleeping with ``busy``); killed afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.scripted_echo", "--rtt-us", str(rtt_us), *(["--busy"] if busy else [])],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield {"host": "127.0.0.1", "port": int(proc.stdout.readline())}
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def agent_url():
    """A real echo agent process (webrtc and udp) on 127.0.0.1, for a module's tests."""
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith(AGENT_READY_PREFIX), line
    yield line[len(AGENT_READY_PREFIX) :].strip()
    proc.terminate()
    assert proc.wait(10) == 0


def call(method: str, url: str, **kw) -> tuple[int, object]:
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.request(method, url, **kw) as resp:
                body = await resp.json() if resp.content_type == "application/json" else await resp.text()
                return resp.status, body

    return asyncio.run(go())


#: Markers a test must carry when it uses these fixtures, so ``-m "not root"`` (or ``netns``, ``server``)
#: deselects every test that needs it.
FIXTURE_MARKERS = {
    "veth": {"root", "netns"},
    "livekit_server": {"root", "netns", "server"},
    "victoria": {"server"},
    "chromium": {"server"},
    "upstream": {"server"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail collection when a test uses one of ``FIXTURE_MARKERS``' fixtures without its markers."""
    unmarked = []
    for item in items:
        needed = set().union(*(FIXTURE_MARKERS.get(f, set()) for f in getattr(item, "fixturenames", ())))
        missing = needed - {m.name for m in item.iter_markers()}
        if missing:
            unmarked.append(f"{item.nodeid}: {', '.join(sorted(missing))}")
    if unmarked:
        raise pytest.UsageError("tests missing markers for the fixtures they use:\n" + "\n".join(unmarked))
