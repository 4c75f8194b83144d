"""An echo agent in a child process on 127.0.0.1, for runs without ``--agent-url``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading

from agent import READY_PREFIX
from engine.parent.errors import BenchError

START_TIMEOUT_S = 30.0


class EmbeddedAgent:
    """Context manager: starts ``python -m agent`` on a free port, yields its URL, stops it."""

    def __init__(self, platform: str = "webrtc") -> None:
        self._platform = platform
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> str:
        argv = [sys.executable, "-m", "agent", "--platform", self._platform, "--host", "127.0.0.1", "--port", "0"]
        self._proc, self.url = start_child([*argv, "--parent-pid", str(os.getpid())], READY_PREFIX, "embedded echo agent")
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)


def start_child(
    argv: list[str], ready_prefix: str, what: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``argv`` and wait for its ready line; returns the process and the rest of that line.

    Its stderr goes to a file, not a pipe: nobody reads it during the run and a
    full pipe would stall the child. Its own session: the terminal's Ctrl-C goes
    to the runner, which then stops its children in order.
    """
    stderr = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True, env=env)
    line = readline_within(proc, START_TIMEOUT_S)
    if not line.startswith(ready_prefix):
        stop_process(proc)
        stderr.seek(0)
        last = (stderr.read() or line or "no output").strip().splitlines()[-1]
        raise BenchError(f"{what} failed to start: {last}")
    return proc, line[len(ready_prefix) :].strip()


def stop_process(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, up to 10 s to finish what it writes, then SIGKILL."""
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def readline_within(proc: subprocess.Popen[str], timeout: float) -> str:
    """First stdout line, or '' if none comes in time (a thread, since pipes have no timeout)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""
