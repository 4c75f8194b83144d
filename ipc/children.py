"""Child processes that announce themselves with a ready line: started, awaited, stopped.

The runner starts the echo agent and the impairment proxy this way, and tests start
agents the same way; the agent's ready line is defined here so that its writer and
every reader share one constant without importing each other.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading

from ipc.errors import BenchError

#: The first line on stdout once an echo agent serves; a launcher reads the rest of it to learn the URL.
AGENT_READY_PREFIX = "echo-agent listening on "
#: How long a child may take to print its ready line.
START_TIMEOUT_S = 30.0


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
