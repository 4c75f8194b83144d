"""The spool: points the server did not take, kept on disk for ``benchmark-runner flush-spool``.

One append-only line-protocol file per run, ``<spool dir>/<run_id>.lp``. It is
written from three threads (the pipe reader when the sink is over budget, the
sink thread, the client's callback thread), hence the lock; fsync'd on close.
Replay rewrites a file to what is left after a partly accepted replay, so a
point is never sent twice and never dropped.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

SUFFIX = ".lp"


def check_dir(folder: Path) -> None:
    """Fail before the run: the spool folder must exist (it is created) and take new files."""
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"spool folder {folder} is not writable")


class Spool:
    """Append-only, opened on the first point so a run whose sink never failed leaves no file."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = folder / f"{run_id}{SUFFIX}"
        self.points = 0
        self._file = None
        self._lock = threading.Lock()

    def append(self, lines: Iterable[bytes]) -> int:
        """Write ``lines`` whole or not at all; returns how many. Raises OSError (naming the file) if the disk refuses.

        Unbuffered, so a full disk shows on the append that did not fit (not at close, for points
        already counted as spooled), and a partial write is cut off again: a torn last line would
        make the server refuse the whole file at replay.
        """
        data = b"\n".join(lines)
        if not data:
            return 0
        data += b"\n"
        with self._lock:
            try:
                if self._file is None:
                    self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives until close()
                    fcntl.flock(self._file, fcntl.LOCK_EX)  # flush-spool leaves a file alone while its run writes it
                start = os.lseek(self._file.fileno(), 0, os.SEEK_END)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._file.fileno(), view) :]
                except OSError:
                    os.ftruncate(self._file.fileno(), start)
                    raise
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write spool {self.path}: {exc.strerror or exc}") from None
            count = data.count(b"\n")
            self.points += count
        return count

    def close(self) -> None:
        with self._lock:
            file, self._file = self._file, None
            if file is not None:
                try:
                    os.fsync(file.fileno())
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot write spool {self.path}: {exc.strerror or exc}") from None
                finally:
                    file.close()


def pending_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


class SpoolBusy(Exception):
    """A run is still writing this file."""


def replay(path: Path, post: Callable[[bytes], None], chunk_lines: int) -> int:
    """Send ``path`` in chunks through ``post``; delete it once all is accepted. Returns the points sent.

    ``post`` raises on refusal: the file is then rewritten (atomically) to the
    chunks not yet accepted, and the error propagates.
    """
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpoolBusy(f"{path} is still being written by a running benchmark") from None
        return _replay_locked(path, f.read(), post, chunk_lines)


def _replay_locked(path: Path, data: bytes, post: Callable[[bytes], None], chunk_lines: int) -> int:
    lines = [line for line in data.split(b"\n") if line.strip()]
    sent = 0
    try:
        for start in range(0, len(lines), chunk_lines):
            post(b"\n".join(lines[start : start + chunk_lines]))
            sent = min(start + chunk_lines, len(lines))
    except BaseException:
        if sent:
            _rewrite(path, lines[sent:])
        raise
    path.unlink()
    return sent


def _rewrite(path: Path, lines: list[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
