"""Process trees read from /proc, for tests that must leave no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

#: The console script users run, installed beside this interpreter.
BENCHMARK_RUNNER = str(Path(sys.executable).with_name("benchmark-runner"))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, at this instant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[1], []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has exited: only its parent's wait is missing)."""
    return {pid for pid in pids if (st := _stat(pid)) is not None and st[0] != "Z"}


def wait_gone(pids: set[int], within_s: float) -> set[int]:
    """Poll until none of ``pids`` is alive or ``within_s`` passes; returns those still alive."""
    deadline = time.monotonic() + within_s
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Watched:
    """A CLI process whose stderr is read as it comes, so a test can act once a line shows up."""

    def __init__(self, args: list[str], **popen) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._seen = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            with self._seen:
                lines.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, within_s: float) -> None:
        """Block until ``text`` appears on stderr; fail with what was printed if it does not in time."""
        with self._seen:
            if not self._seen.wait_for(lambda: any(text in line for line in self.stderr), within_s):
                raise AssertionError(f"{text!r} never appeared on stderr: {''.join(self.stderr)}")

    def finish(self, within_s: float) -> tuple[int, str, str]:
        """Wait for exit (``subprocess.TimeoutExpired`` past ``within_s``); returns code, stdout, stderr."""
        self.proc.wait(within_s)
        for reader in self._readers:
            reader.join(within_s)
        return self.proc.returncode, "".join(self.stdout), "".join(self.stderr)
