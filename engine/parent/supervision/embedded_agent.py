"""An echo agent in a child process on 127.0.0.1, for runs without ``--agent-url``."""

from __future__ import annotations

import os
import subprocess
import sys

from ipc.children import AGENT_READY_PREFIX, start_child, stop_process


class EmbeddedAgent:
    """Context manager: starts ``python -m agent`` on a free port, yields its URL, stops it."""

    def __init__(self, platform: str = "webrtc") -> None:
        self._platform = platform
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> str:
        argv = [sys.executable, "-m", "agent", "--platform", self._platform, "--host", "127.0.0.1", "--port", "0"]
        self._proc, self.url = start_child([*argv, "--parent-pid", str(os.getpid())], AGENT_READY_PREFIX, "embedded echo agent")
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)
