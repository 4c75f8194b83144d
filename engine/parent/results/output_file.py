"""Putting already-serialised text where ``--output`` points, whatever kind of node the path names.

A regular file (or a new one) is replaced atomically and keeps its mode: a
reader never sees half a file and a failed write leaves the old one. A
symlink is followed, so its target is written and the link stays. A FIFO or
a character device (``/dev/stdout``, ``/dev/null``) is written straight into:
replacing it would turn it into a regular file. ``-`` is standard output.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

#: ``--output -``: the JSON goes to standard output (the summary then goes to standard error).
STDOUT = "-"


def is_stdout(path: Path | str) -> bool:
    return str(path) == STDOUT


def _node(path: Path) -> os.stat_result | None:
    """What the path names after every symlink is followed; None when nothing is there yet."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def check(path: Path | str) -> None:
    """Fail before the run, not after it: raises OSError with a one-line message."""
    if is_stdout(path):
        return
    path = Path(path)
    node = _node(path)
    if node is not None and stat.S_ISDIR(node.st_mode):
        raise OSError(f"--output {path} is a directory")
    if node is not None and not (stat.S_ISREG(node.st_mode) or stat.S_ISFIFO(node.st_mode) or stat.S_ISCHR(node.st_mode)):
        raise OSError(f"--output {path} is neither a file, a FIFO nor a character device")
    if node is not None and not os.access(path, os.W_OK):
        raise OSError(f"--output file {path} is not writable")
    if node is None or stat.S_ISREG(node.st_mode):  # written through a temporary file beside the target
        folder = Path(os.path.realpath(path)).parent
        if not folder.is_dir():
            raise OSError(f"--output folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OSError(f"--output folder {folder} is not writable")


def write(path: Path | str, pieces: Iterable[str]) -> None:
    """Write ``pieces`` (text, in order) to ``path``; OSError names the path and the errno."""
    if is_stdout(path):
        try:
            sys.stdout.writelines(pieces)
            sys.stdout.flush()
        except BrokenPipeError:
            drop_stdout()
            raise
        return
    path = Path(path)
    node = _node(path)
    if node is not None and not stat.S_ISREG(node.st_mode):
        with open(path, "w") as f:  # a FIFO or device: the reader at the other end gets the stream
            f.writelines(pieces)
        return
    _replace(Path(os.path.realpath(path)), pieces, node)


def _replace(target: Path, pieces: Iterable[str], old: os.stat_result | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            if old is None:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)  # as open() would make it; mkstemp's 0600 would surprise
            else:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if os.geteuid() == 0:
                    os.fchown(fd, old.st_uid, old.st_gid)
            f.writelines(pieces)
            f.flush()
            os.fsync(fd)  # a full disk shows here at the latest, before the old file is replaced
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def is_regular(path: Path | str) -> bool:
    """True when ``path`` names (through any symlink) a regular file: one that can be written again."""
    node = None if is_stdout(path) else _node(Path(path))
    return node is not None and stat.S_ISREG(node.st_mode)


def drop_stdout() -> None:
    """After a reader closed standard output (``| head -1``): send the rest to /dev/null, so the run's other
    outputs still happen and the flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
