"""The live table in a real terminal (tmux), and plain lines without escape codes in a pipe or a file.

tmux runs the real CLI in a pseudo-terminal of its own server (its own socket,
so no one else's tmux is touched); the pane is captured twice a few seconds
apart: the table is there and its counts move.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from tests.conftest import CLI, cli_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

#: A udp row of the table: platform, answered, lost, then ms values.
ROW = re.compile(r"^\s*udp\s+([\d,]+)\s+([\d,]+)\s+[\d.]+", re.MULTILINE)
ESCAPE = "\x1b["


def _tmux(socket: str, *args: str) -> str:
    """tmux on a socket of this test's own; its server starts without this session's COLUMNS/LINES, as a user's terminal."""
    env = {k: v for k, v in cli_env().items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=True, env=env
    ).stdout


def _answered_in(pane: str) -> int | None:
    match = ROW.search(pane)
    return int(match.group(1).replace(",", "")) if match else None


def _run_in_tmux(tmp_path, *flags: str, iterations: int = 1500) -> tuple[str, str]:
    """Two captures of a udp run's pane (10 ms apart pings), ~3 s apart, the first once a ping is in (or after 3 s)."""
    socket = f"bench-{uuid.uuid4().hex[:8]}"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli_env().items() if k in ("PATH", "HOME", "LANG"))
    cli = " ".join(map(shlex.quote, CLI))
    command = f"cd {shlex.quote(str(tmp_path))} && env {env} {cli} --platform udp --iterations {iterations} --cooldown 10 {' '.join(flags)}; sleep 60"
    _tmux(socket, "new-session", "-d", "-s", "run", "-x", "150", "-y", "30", command)
    try:
        started = time.monotonic()
        first = ""
        while time.monotonic() < started + 60:
            first = _tmux(socket, "capture-pane", "-p", "-t", "run")
            if (_answered_in(first) or 0) > 0 or ("--quiet" in flags and time.monotonic() > started + 3):
                break
            time.sleep(0.5)
        time.sleep(3)
        second = _tmux(socket, "capture-pane", "-p", "-t", "run")
        deadline = time.monotonic() + 60
        while "--output" in flags and not (tmp_path / "r.json").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        return first, second
    finally:
        _tmux(socket, "kill-server")


def test_live_table_in_a_terminal_moves(tmp_path):
    first, second = _run_in_tmux(tmp_path)
    for pane in (first, second):
        assert "platform" in pane and "answered" in pane and "send lag" in pane and "RTT and send lag in ms" in pane, (
            pane
        )
    before, after = _answered_in(first), _answered_in(second)
    assert before is not None and after is not None, (first, second)
    assert after > before > 0, (first, second)
    assert "kernel" in second  # udp's stamps are the kernel's


def test_quiet_shows_no_table_in_a_terminal(tmp_path):
    first, second = _run_in_tmux(tmp_path, "--quiet", "--output", "r.json", iterations=700)
    assert "answered" not in first + second and "pings" not in first + second, (first, second)
    assert json.loads((tmp_path / "r.json").read_text())["statistics"]["total_messages"] == 700


def test_no_escape_codes_in_a_pipe_or_a_file(tmp_path):
    args = [*CLI, "--platform", "udp", "--iterations", "300", "--cooldown", "20"]
    piped = subprocess.run(args, capture_output=True, text=True, timeout=120, env=cli_env(), cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        to_file = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=err, text=True, timeout=120, env=cli_env(), cwd=tmp_path
        )
    assert to_file.returncode == 0
    for text in (piped.stderr, log.read_text()):
        assert "pinging: " in text and "progress: 300/300 pings" in text, text
        assert ESCAPE not in text and "\r" not in text and "┃" not in text, text
