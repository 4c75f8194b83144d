"""An echo agent in a child process on 127.0.0.1, for runs without ``--agent-url``."""

from __future__ import annotations

import subprocess
import sys
import threading

from agent.cli import READY_PREFIX
from engine.errors import BenchError

START_TIMEOUT_S = 30.0


class EmbeddedAgent:
    """Context manager: starts ``python -m agent`` on a free port, yields its URL, stops it."""

    def __init__(self, platform: str = "webrtc") -> None:
        self._platform = platform
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> str:
        # Own session: the terminal's Ctrl-C goes to the runner, which then stops us in order.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--platform", self._platform, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = _readline_within(self._proc, START_TIMEOUT_S)
        if not line.startswith(READY_PREFIX):
            err = self._stop()
            raise BenchError(f"embedded echo agent failed to start: {(err or line).strip().splitlines()[-1:] or 'no output'}")
        self.url = line[len(READY_PREFIX):].strip()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> str:
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        return err or ""


def _readline_within(proc: subprocess.Popen[str], timeout: float) -> str:
    """First stdout line, or '' if none comes in time (a thread, since pipes have no timeout)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""
