"""``--output`` onto every kind of node a path can name, and onto a full disk."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from engine.parent.results import output_file
from engine.parent.results.builder import write_json

RUN = ["--platform", "udp", "--iterations", "20", "--cooldown", "1"]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, mount)")


def test_regular_file_keeps_its_mode_and_is_replaced_atomically(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o600)
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_symlink_is_written_through_and_stays_a_link(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target.name)
    write_json(link, {"a": 2})
    assert link.is_symlink() and json.loads(target.read_text()) == {"a": 2}
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to("made-by-the-write.json")
    write_json(dangling, {"a": 3})
    assert dangling.is_symlink() and json.loads((tmp_path / "made-by-the-write.json").read_text()) == {"a": 3}


def test_fifo_is_written_into_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_json(fifo, {"a": 4})
    reader.join(10)
    assert json.loads(got[0]) == {"a": 4}
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.root
@root_only
def test_character_devices_are_written_into_not_replaced(tmp_path):
    null, full = tmp_path / "null", tmp_path / "full"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's and /dev/full's numbers, in tmp_path
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    write_json(null, {"a": 5})
    assert stat.S_ISCHR(null.lstat().st_mode)
    with pytest.raises(OSError) as exc:
        write_json(full, {"a": 6})
    assert exc.value.errno == errno.ENOSPC and stat.S_ISCHR(full.lstat().st_mode)


def test_checks_before_the_run(tmp_path):
    output_file.check("-")
    output_file.check(tmp_path / "new.json")
    with pytest.raises(OSError, match="is a directory"):
        output_file.check(tmp_path)
    with pytest.raises(OSError, match="does not exist"):
        output_file.check(tmp_path / "nope" / "x.json")
    sock = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))
        with pytest.raises(OSError, match="neither a file"):
            output_file.check(sock)


def test_dash_writes_the_json_to_stdout_and_the_summary_to_stderr(cli):
    proc = cli(*RUN, "--output", "-")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["statistics"]["total_messages"] == 20
    assert "RTT       p50" in proc.stderr and "results written" not in proc.stderr + proc.stdout


@contextlib.contextmanager
def full_tmpfs(where: Path):
    """A 64 KiB tmpfs at ``where``, filled to the last byte; unmounted afterwards whatever happens."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True)
    try:
        with contextlib.suppress(OSError), open(where / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.mark.root
@root_only
def test_output_on_a_full_disk_is_one_line_and_the_summary_still_prints(cli, tmp_path):
    with full_tmpfs(tmp_path / "full") as full:
        proc = cli(*RUN, "--output", str(full / "r.json"))
        assert not (full / "r.json").exists()
    assert proc.returncode == 3, proc.stderr
    assert "RTT       p50" in proc.stdout and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "error" in x]
    assert f"cannot write results to {full / 'r.json'}: [Errno 28]" in line


@pytest.mark.root
@root_only
def test_full_spool_disk_is_one_line_and_the_json_is_still_written(cli, tmp_path):
    out = tmp_path / "r.json"
    with socket_nobody_listens() as url, full_tmpfs(tmp_path / "full") as full:
        proc = cli(*RUN, "--output", str(out), "--influxdb-url", url, "--spool-dir", str(full))
    assert proc.returncode == 3, proc.stderr
    assert "RTT       p50" in proc.stdout and "Traceback" not in proc.stderr
    sink = json.loads(out.read_text())["metadata"]["sink"]
    assert sink["lost"] == 21 and sink["spooled"] == 0  # 20 samples and the run summary
    (line,) = [x for x in proc.stderr.splitlines() if "points lost" in x]
    assert f"21 points lost: [Errno 28] cannot write spool {full}/" in line


@contextlib.contextmanager
def socket_nobody_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: connections are refused
