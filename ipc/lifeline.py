"""A child that must not outlive the runner: the kernel signals it when its parent dies.

Workers and the embedded echo agent are started by the runner; if the runner
is killed outright (SIGKILL, OOM) nobody would stop them, and a worker would
keep pinging to the end of its schedule. ``PR_SET_PDEATHSIG`` asks Linux to
send SIGTERM at the parent's death, which both children already treat as
"stop cleanly".
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent_pid: int) -> None:
    """SIGTERM this process when ``parent_pid`` dies, and now if it already has (the race before the call)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
