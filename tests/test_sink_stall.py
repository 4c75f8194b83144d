"""A stalled database (VictoriaMetrics under SIGSTOP): nothing twice after replay, and Ctrl-C never waits for it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter

import pytest

from tests.conftest import CLI, cli_env, run_cli
from tests.test_sink import latency, points, run_args, sink_args

#: Every test here stalls a real VictoriaMetrics server.
pytestmark = pytest.mark.server

ITERATIONS = 100


def flush_spool(victoria, spool, cwd) -> subprocess.CompletedProcess[str]:
    return run_cli("flush-spool", *sink_args(victoria.url, spool), cwd=cwd)


def copies(victoria, run_id: str, as_influxdb: bool) -> Counter:
    series = victoria.wait_for(
        f'{{__name__="latency_measurements_message_number",run_id="{run_id}"}}',
        "latency_measurements_message_number",
        ITERATIONS,
        as_influxdb=as_influxdb,
    )
    return Counter(int(v) for _, v in points(series["latency_measurements_message_number"]))


def test_timed_out_batch_is_spooled_not_retried_so_replay_stores_each_point_once(tmp_path, victoria):
    """A timed-out request may still land: the batch goes to the spool instead of being sent again."""
    out, spool = tmp_path / "r.json", tmp_path / "spool"
    victoria.pause()
    try:
        run = run_cli(
            *run_args(out, ITERATIONS),
            *sink_args(victoria.url, spool, "--influxdb-timeout-ms", "2000", "--influxdb-max-retries", "3"),
            cwd=tmp_path,
        )
    finally:
        victoria.resume()  # the requests queued in its socket are applied now
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    sink, run_id = result["metadata"]["sink"], result["metadata"]["run_id"]
    assert sink["retries"] == 0 and "may have applied it" in sink["error"]
    assert sink["spooled"] == ITERATIONS + 1 and sink["written"] == 0
    assert flush_spool(victoria, spool, tmp_path).returncode == 0
    raw = copies(victoria, run_id, as_influxdb=False)
    assert sorted(raw) == list(range(1, ITERATIONS + 1))
    assert max(raw.values()) <= 2  # sent once (maybe applied) and once from the spool; 5 with retries
    assert copies(victoria, run_id, as_influxdb=True) == Counter(range(1, ITERATIONS + 1))


def test_ctrl_c_while_draining_a_stalled_database_saves_first_and_spools_the_rest(tmp_path, victoria):
    out, spool, stdout = tmp_path / "r.json", tmp_path / "spool", tmp_path / "stdout"
    timeout_ms = 20_000
    victoria.pause()
    try:
        with open(stdout, "w") as so:
            proc = subprocess.Popen(
                [*CLI, *run_args(out, ITERATIONS), *sink_args(victoria.url, spool, "--influxdb-timeout-ms", str(timeout_ms))],
                stdout=so,
                stderr=subprocess.PIPE,
                text=True,
                env=cli_env(),
                cwd=tmp_path,
                # Ctrl-C as at a terminal: a background job of a non-interactive shell would ignore SIGINT.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            try:
                deadline = time.monotonic() + 60
                while not (out.exists() and "RTT" in stdout.read_text()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert out.exists(), "the JSON was not written before the sink drained"
                assert json.loads(out.read_text())["metadata"]["sink"]["complete"] is False
                sent = time.monotonic()
                proc.send_signal(signal.SIGINT)
                _, stderr = proc.communicate(timeout=60)
                waited = time.monotonic() - sent
            finally:
                if proc.poll() is None:
                    proc.kill()
    finally:
        victoria.resume()
    assert proc.returncode == 130, stderr
    assert waited < timeout_ms / 1e3 / 4, waited  # it did not wait for the stalled request
    assert "Traceback" not in stderr and "RTT       p50" in stdout.read_text()
    result = json.loads(out.read_text())
    sink, run_id = result["metadata"]["sink"], result["metadata"]["run_id"]
    assert result["statistics"]["successful_messages"] == ITERATIONS
    assert sink["interrupted"] and sink["complete"] and sink["spooled"] == ITERATIONS + 1
    assert len((spool / f"{run_id}.lp").read_bytes().splitlines()) == ITERATIONS + 1
    assert flush_spool(victoria, spool, tmp_path).returncode == 0
    assert copies(victoria, run_id, as_influxdb=True) == Counter(range(1, ITERATIONS + 1))
    numbers = points(latency(victoria, run_id, ITERATIONS)["latency_measurements_message_number"])
    assert len({v for _, v in numbers}) == ITERATIONS
