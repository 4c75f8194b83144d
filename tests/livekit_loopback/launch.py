"""Running the loopback server as a process inside a test namespace, as a LiveKit deployment would run."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from ipc.children import readline_within
from tests.livekit_loopback import READY_PREFIX, STATS_PREFIX
from tests.netns import VethNamespace

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0


class ServerProcess:
    """``python -m tests.livekit_loopback`` on the namespace side of ``ns``, with a fresh key and secret."""

    def __init__(self, ns: VethNamespace, log: Path, *, port: int = 7880, extra: tuple[str, ...] = ()) -> None:
        self.ns, self.log, self.port, self.extra = ns, log, port, extra
        self.api_key = "loopback"
        self.api_secret = secrets.token_urlsafe(32)
        self.url = f"ws://{ns.ns_ip}:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self.stats: dict | None = None

    @property
    def credentials(self) -> dict[str, str]:
        """What an echo agent needs in its environment to use this server."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key, "LIVEKIT_API_SECRET": self.api_secret}

    def start(self) -> ServerProcess:
        argv = [sys.executable, "-m", "tests.livekit_loopback", "--host", self.ns.ns_ip, "--port", str(self.port)]
        env = {**os.environ, "LIVEKIT_API_KEY": self.api_key, "LIVEKIT_API_SECRET": self.api_secret}
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                self.ns.command([*argv, *self.extra]), stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT
            )
        line = readline_within(self.proc, START_TIMEOUT_S)
        if not line.startswith(READY_PREFIX):
            self.kill()
            raise RuntimeError(f"loopback server did not start: {line!r}\n{self.log.read_text()}")
        return self

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Stop it (SIGTERM: everyone is told to leave; SIGKILL: a crash); returns its exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=20)
        for line in out.splitlines():
            if line.startswith(STATS_PREFIX):
                self.stats = json.loads(line.removeprefix(STATS_PREFIX))
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGKILL)

    def relayed_now(self) -> int:
        """Data packets relayed so far on every channel, asked over HTTP while it runs."""
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(self.url.replace("ws://", "http://") + "/stats", timeout=5) as resp:
            return sum(json.load(resp)["relayed"].values())

    def server_log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""
