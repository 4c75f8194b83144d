"""The original Voice RTC Benchmark (MIT), run as its users run it, from a virtual environment of the tests' own.

Its packages (runner, echo agent, shared types) sit in ``../shared/upstream``
beside the clone; they are installed with their own dependencies from PyPI
(livekit-agents, pydantic, …) into a fresh venv, never copied into this
project. Its settings come from the environment: ``INFLUXDB_URL`` and
``INFLUXDB_TOKEN`` must be set (empty turns InfluxDB off), and its LiveKit
agent loads ``DAILY_API_KEY`` too, which it never uses there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env
from tests.livekit_loopback.launch import ServerProcess

UPSTREAM = ROOT.parent / "shared" / "upstream" / "voice-rtc-bench" / "packages"
PACKAGES = ("shared", "benchmark_runner", "echo_agent")
INSTALL_TIMEOUT_S = 900
#: Its start imports livekit-agents and fastapi, then warms job processes that import them again.
START_TIMEOUT_S = 180.0

#: What the original reads from the environment and needs set.
SETTINGS = {"INFLUXDB_URL": "", "INFLUXDB_TOKEN": "", "DAILY_API_KEY": "not-used-by-the-livekit-agent"}


def install(venv: Path) -> Path:
    """``uv venv`` + ``uv pip install`` of the upstream packages; returns the venv's bin folder.

    Fails (in CI) or skips (elsewhere) when the packages or uv are not here.
    """
    uv = shutil.which("uv")
    missing = [str(UPSTREAM / p) for p in PACKAGES if not (UPSTREAM / p / "pyproject.toml").exists()]
    if missing or uv is None:
        why = f"the original project is not at {UPSTREAM}" if missing else "uv is not on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            *(str(UPSTREAM / p) for p in PACKAGES),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if done.returncode != 0:
        pytest.fail(f"the original's packages did not install from PyPI:\n{done.stderr[-4000:]}")
    return venv / "bin"


def env(**extra: str) -> dict[str, str]:
    """This environment without a developer's platform or benchmark settings, plus the original's and ``extra``."""
    clean = {k: v for k, v in cli_env().items() if not k.startswith(("DAILY_", "LIVEKIT_", "VIRTUAL_ENV"))}
    return {**clean, **SETTINGS, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CPUACCT = Path("/sys/fs/cgroup/cpuacct")
#: ``sh -c`` script: join the cgroup "$1", show it at the cpuacct root (private mount namespace), exec the rest.
_IN_OWN_CGROUP = 'echo $$ > "$1/cgroup.procs" && mount --bind "$1" /sys/fs/cgroup/cpuacct && shift && exec "$@"'


def in_own_cgroup(argv: list[str], name: str) -> tuple[list[str], Path | None]:
    """``argv`` run in a new cpuacct cgroup ``name`` that it sees as the root; unchanged without cgroup v1."""
    if not (CPUACCT / "cpuacct.usage").exists() or shutil.which("unshare") is None:
        return argv, None
    group = CPUACCT / name
    try:
        group.mkdir()
    except OSError:
        return argv, None
    return ["unshare", "--mount", "sh", "-c", _IN_OWN_CGROUP, "sh", str(group), *argv], group


class OriginalAgent:
    """``echo-agent --platform livekit`` of the original against ``server``, in a process group of its
    own (it starts job processes), until the ``with`` ends; ``url`` is its API, its output in ``log``.

    Ready once its API answers, its worker has registered with the server (livekit-agents does so
    only after its idle job processes are warm, or it gave up waiting for them) and has reported
    itself available: it refuses jobs while the CPU load it reads is above 0.7. It reads the root
    cpuacct cgroup, which here is the whole machine (the runner, the server, any other test). It
    runs in a cgroup of its own, mounted where it reads, as in the container it is deployed in: its
    load is then its own.
    """

    def __init__(self, bin_dir: Path, server: ServerProcess, log: Path) -> None:
        self.server = server
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [str(bin_dir / "echo-agent"), "--platform", "livekit", "--host", "127.0.0.1", "--port", str(self.port)]
        argv, self.cgroup = in_own_cgroup(argv, f"rtcb-original-{os.getpid()}-{self.port}")
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env(**server.credentials),
                cwd=log.parent,
                start_new_session=True,
            )

    def __enter__(self) -> OriginalAgent:
        deadline = time.monotonic() + START_TIMEOUT_S
        status = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            status = self.server.server_log().rpartition(" is WS_")[2].partition("\n")[0]
            if status.startswith("AVAILABLE") and self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        worker = f"its worker last reported WS_{status}" if status else "its worker never reported its load"
        pytest.fail(f"the original echo agent was not ready within {START_TIMEOUT_S:g} s ({worker}):\n{self.output}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        """SIGTERM to its group (the agent and its job processes), SIGKILL to what is left after 20 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.cgroup is not None:
            for _ in range(50):  # empty once the killed processes are reaped
                with contextlib.suppress(OSError):
                    self.cgroup.rmdir()
                    break
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_runner(bin_dir: Path, agent_url: str, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The original ``benchmark-runner --platform livekit`` against ``agent_url``, its JSON to ``output``."""
    argv = [str(bin_dir / "benchmark-runner"), "--platform", "livekit", "--agent-url", agent_url, "--output"]
    return subprocess.run(
        [*argv, str(output), *args], capture_output=True, text=True, timeout=180, env=env(), cwd=output.parent
    )


def validate(bin_dir: Path, model: str, document: str, *, many: bool = False) -> None:
    """Validate JSON text (a list of them with ``many``) against one of the original's pydantic models
    in ``shared.types``; fail with its words."""
    shape = f"list[{model}]" if many else model
    code = (
        f"import sys; from pydantic import TypeAdapter; from shared.types import {model}; "
        f"TypeAdapter({shape}).validate_json(sys.stdin.read())"
    )
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", code], input=document, capture_output=True, text=True, timeout=60, env=env()
    )
    assert done.returncode == 0, f"the original's {shape} refuses it:\n{done.stderr[-3000:]}"
