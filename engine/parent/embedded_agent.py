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
        # A file, not a pipe, for stderr: nobody reads it during the run and a full pipe would stall the agent.
        self._stderr = tempfile.TemporaryFile("w+")
        # Own session: the terminal's Ctrl-C goes to the runner, which then stops us in order.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--platform", self._platform, "--host", "127.0.0.1", "--port", "0"]
            + ["--parent-pid", str(os.getpid())],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        line = readline_within(self._proc, START_TIMEOUT_S)
        if not line.startswith(READY_PREFIX):
            self._stop()
            self._stderr.seek(0)
            last = (self._stderr.read() or line or "no output").strip().splitlines()[-1]
            raise BenchError(f"embedded echo agent failed to start: {last}")
        self.url = line[len(READY_PREFIX) :].strip()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
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
