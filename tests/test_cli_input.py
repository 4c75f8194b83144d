"""Odd input and odd surroundings: non-finite numbers, oversized pings, HTML error pages, closed pipes, early Ctrl-C."""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.agent_http import agent_env, run_agent
from tests.conftest import CLI, cli_env
from tests.test_cli_errors import assert_one_line_error


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--cooldown", "nan"), ("--cooldown", "inf"), ("--timeout", "nan"), ("--timeout", "inf"),
     ("--connect-timeout", "nan"), ("--connect-timeout", "inf")],
)
def test_non_finite_numbers_are_one_line(cli, flag, value):
    assert_one_line_error(cli("--platform", "udp", flag, value), flag, value)


@pytest.mark.parametrize(
    ("platform", "size", "limit"),
    [("udp", 70_000, "65,507"), ("webrtc", 300_000, "65,536"), ("webrtc", 70_000, "65,536"),
     ("livekit", 64_001, "64,000"), ("daily", 5_000, "4,096")],
)
def test_payload_beyond_the_platforms_largest_message_is_refused_up_front(cli, platform, size, limit):
    # No agent is reached: the check comes first (the URL below refuses connections).
    proc = cli("--platform", platform, "--agent-url", "http://127.0.0.1:9", "--payload-bytes", str(size))
    assert_one_line_error(proc, "--payload-bytes", str(size), platform, limit)


@pytest.fixture
def web_server_404():
    """A plain web server that answers every path with its stock HTML 404 page (11 lines)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_html_error_page_from_a_wrong_agent_url_is_one_line(cli, web_server_404):
    proc = cli("--platform", "udp", "--agent-url", web_server_404)
    assert_one_line_error(proc, "HTTP 501", "Unsupported method")
    assert "<" not in proc.stderr


def test_closed_stdout_costs_the_summary_only(tmp_path):
    """`| head -1`: the reader goes away; the JSON is still written and the run still succeeds."""
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [*CLI, "--platform", "udp", "--iterations", "20", "--cooldown", "1", "--output", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    proc.stdout.close()  # the reader is gone before the first line
    stderr = proc.stderr.read()
    assert proc.wait(120) == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert json.loads(out.read_text())["statistics"]["total_messages"] == 20


#: Points of the runner's start, in the order it reaches them, each seen from outside: a native library its
#: imports map (numpy, msgspec and aiohttp load in that order, a good part of a second on their own), then the
#: embedded echo agent it starts once loaded.
START_POINTS = ["numpy/_core/_multiarray_umath", "msgspec/_core", "aiohttp/_http_parser", "embedded agent"]


def reached(pid: int, point: str) -> bool:
    """Whether process ``pid`` has mapped the library ``point``, or (``embedded agent``) has a child process."""
    proc = Path(f"/proc/{pid}")
    if point == "embedded agent":
        return any(children.read_text().strip() for children in proc.glob("task/*/children"))
    return point in (proc / "maps").read_text()


def wait_until_reached(proc: subprocess.Popen[str], point: str, timeout: float = 60.0) -> None:
    """Until ``proc`` reaches ``point`` of its start; fails if it ends first or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if reached(proc.pid, point):
                return
        except OSError:  # it exited while being read
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the runner never reached {point!r} of its start (exit {proc.poll()})")
        time.sleep(0.001)  # the points are tens of milliseconds apart


@pytest.mark.parametrize("point", START_POINTS)
def test_ctrl_c_while_starting_is_one_line(tmp_path, point):
    proc = subprocess.Popen(
        [*CLI, "--platform", "udp", "--iterations", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal
    )
    wait_until_reached(proc, point)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    # Every point is past the interpreter's start, so Python's handler is in place: "interrupted", exit 130.
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert len(stderr.strip().splitlines()) <= 1, stderr


def test_help_names_the_environment_variable_of_every_flag_that_has_one(cli):
    from bench_cli.main import cli as command

    text = " ".join(cli("--help").stdout.split())
    with_env = [p for p in command.params if p.envvar]
    assert {"UNRELIABLE", "CLOCK_MODE", "BUSY_POLL_US", "CONNECT_TIMEOUT_S"} <= {p.envvar for p in with_env}
    for param in with_env:
        assert f"env var: {param.envvar}" in text, param.envvar
    typed = cli("--platform", "udp", "--iterations", "abc")  # click's envvar hint must not blame ITERATIONS
    assert_one_line_error(typed, "--iterations", "abc")
    assert "ITERATIONS" not in typed.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [({"ITERATIONS": "abc"}, "environment variable ITERATIONS"), ({"CLOCK_MODE": "bogus"}, "CLOCK_MODE"),
     ({"BUSY_POLL_US": "-1"}, "BUSY_POLL_US"), ({"TIMEOUT_MS": "nan"}, "TIMEOUT_MS"),
     ({"INFLUXDB_BATCH_SIZE": "0", "INFLUXDB_URL": "http://127.0.0.1:9"}, "INFLUXDB_BATCH_SIZE")],
)
def test_a_bad_environment_value_names_the_variable(cli, env, needle):
    proc = cli("--platform", "udp", env=env)
    assert_one_line_error(proc, needle)
    assert "Invalid value for '--" not in proc.stderr


def test_flags_that_do_nothing_for_the_platforms_run_say_so(cli):
    proc = cli(
        *("--platform", "udp", "--iterations", "5", "--cooldown", "1", "--unreliable"),
        *("--agent-url", "webrtc=http://127.0.0.1:9"),
    )
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("benchmark-runner: warning:")]
    assert len(warned) == 2, proc.stderr
    assert "--unreliable changes nothing for udp" in warned[0] and "--agent-url webrtc=" in warned[1]


def test_short_livekit_secret_is_one_line_of_our_own(tmp_path):
    env = agent_env(LIVEKIT_URL="ws://127.0.0.1:9", LIVEKIT_API_KEY="key", LIVEKIT_API_SECRET="short")
    proc = run_agent(tmp_path, "livekit", env)  # nothing listens at :9, so it stops after the check
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "LIVEKIT_API_SECRET is 5 bytes, under the 32" in lines[0], proc.stderr
    assert "InsecureKeyLengthWarning" not in proc.stderr and "short" not in proc.stderr
