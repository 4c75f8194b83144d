"""One worker as a child process: started early, told what to do once the agent has answered.

A worker is ``python -m engine.worker`` (pyperf's way: its pipe passed
explicitly, never a fork and never the console script again). It is started
with only its platform's name, so it imports its transport and SDK while the
echo agent starts and the handshake runs; the spec follows on its stdin.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from multiprocessing.connection import Connection

from ipc import spec as worker_spec
from ipc.spec import WorkerSpec

#: How long an abandoned worker (the run never started) gets to notice its closed stdin and exit.
ABANDON_GRACE_S = 5.0


class WorkerProcess:
    """A started worker: ``conn`` is the read end of its frame pipe, ``proc`` the process."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.worker", "--platform", platform]
                + ["--pipe", str(write_fd), "--parent", str(os.getpid())],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the worker holds its copy: end of file here means it exited
        self.conn = Connection(read_fd, writable=False)

    def send(self, spec: WorkerSpec) -> None:
        """Start measuring: the spec, then end of file on the worker's stdin."""
        self.proc.stdin.write(worker_spec.encode(spec))
        self.proc.stdin.close()

    def abandon(self) -> None:
        """The run ended before this worker got a spec: an empty stdin tells it to exit."""
        if self.proc.stdin.closed:
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(ABANDON_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()
