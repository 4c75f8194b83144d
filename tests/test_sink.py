"""The InfluxDB sink end to end: the real CLI, a real VictoriaMetrics server, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testbed.victoria import free_port
from tests.conftest import CLI, cli_env

TOKEN = "tok-Zq81xKpW-never-printed"
ITERATIONS = 200
SAMPLE_FIELDS = ("round_trip_time", "client_to_server", "server_to_client", "message_number")


def sink_args(url: str, spool, *extra: str) -> list[str]:
    return [
        "--influxdb-url",
        url,
        "--influxdb-token",
        TOKEN,
        "--influxdb-database",
        "bench",
        "--spool-dir",
        str(spool),
        *extra,
    ]


def run_args(out, iterations: int = ITERATIONS) -> list[str]:
    return [
        "--platform",
        "udp",
        "--iterations",
        str(iterations),
        "--cooldown",
        "1",
        "--location",
        "lab 1,a",
        "--output",
        str(out),
    ]


def latency(victoria, run_id: str, count: int) -> dict[str, list[dict]]:
    return victoria.wait_for(
        f'{{__name__=~"latency_measurements_.*",run_id="{run_id}"}}', "latency_measurements_message_number", count
    )


def points(series: list[dict]) -> list[tuple[int, float]]:
    return sorted((t, v) for s in series for t, v in zip(s["timestamps"], s["values"]))


@pytest.mark.server
def test_every_sample_and_the_summary_arrive_with_tags_fields_and_times(cli, tmp_path, victoria):
    out, spool = tmp_path / "r.json", tmp_path / "spool"
    proc = cli(*run_args(out), *sink_args(victoria.url, spool, "--influxdb-flush-ms", "100"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    meta, stats, measured = result["metadata"], result["statistics"], result["measurements"]
    assert meta["sink"]["written"] == ITERATIONS + 1 and meta["sink"]["spooled"] == 0 and meta["sink"]["error"] is None
    assert f"sink: {ITERATIONS + 1} points written to {victoria.url}" in proc.stderr
    assert not spool.exists() or not any(spool.iterdir())

    series = latency(victoria, meta["run_id"], ITERATIONS)
    for field in SAMPLE_FIELDS:
        (only,) = series[f"latency_measurements_{field}"]  # one series: the tags are the run's
        assert only["labels"] == {"platform": "udp", "location_id": "lab 1,a", "run_id": meta["run_id"]}
        assert sorted(only["values"]) == sorted(m[field] for m in measured), field
    # time = the receive instant: send time (JSON timestamp) + RTT, stored by VictoriaMetrics in ms
    at = {int(v): t for t, v in points(series["latency_measurements_message_number"])}
    assert sorted(at) == list(range(1, ITERATIONS + 1))
    for m in measured:
        assert abs(at[m["message_number"]] - (m["timestamp"] * 1e3 + m["round_trip_time"])) <= 1.0, m

    summary = victoria.wait_for(
        f'{{__name__=~"run_summary_.*",run_id="{meta["run_id"]}"}}', "run_summary_total_messages", 1
    )
    numbers = {k: v for k, v in stats.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {"lost_upstream", "jitter_upstream", "owd_variation_downstream_p99"} <= set(numbers)  # each direction's
    if meta["clock_bound_ms"] is not None:  # both hosts bounded their clocks: the bound travels with the summary
        numbers["clock_bound_ms"] = meta["clock_bound_ms"]
    # The histograms' encodings are string fields (VictoriaMetrics keeps a series per field, not the text).
    encoded = {f"hdr_{k}" for k, v in result["histograms"].items() if k != "unit" and v is not None}
    assert {f"run_summary_{k}" for k in (*numbers, *encoded)} == set(summary)
    for key, value in numbers.items():
        ((t, v),) = points(summary[f"run_summary_{key}"])
        assert v == pytest.approx(value, rel=1e-12), key
        assert abs(t - meta["end_time"] * 1e3) <= 1.0


@pytest.mark.server
def test_server_stopped_mid_run_then_replay_delivers_exactly_once(tmp_path, victoria):
    """The run outlives the server; the spool holds exactly what it missed; flush-spool delivers it once."""
    out, spool, iterations = tmp_path / "r.json", tmp_path / "spool", 3000
    args = [
        *run_args(out, iterations),
        *sink_args(
            victoria.url,
            spool,
            "--influxdb-flush-ms",
            "100",
            "--influxdb-max-retries",
            "1",
            "--influxdb-timeout-ms",
            "500",
        ),
    ]
    with subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path
    ) as proc:
        try:
            first = victoria.wait_for(
                '{__name__="latency_measurements_message_number"}', "latency_measurements_message_number", 1, 30
            )
            assert first, "no point reached the server before it was stopped"
            victoria.stop()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    result = json.loads(out.read_text())
    sink, run_id = result["metadata"]["sink"], result["metadata"]["run_id"]
    assert result["statistics"]["successful_messages"] == iterations
    assert sink["spooled"] > 0 and sink["written"] > 0 and sink["error"]
    assert sink["written"] + sink["spooled"] == iterations + 1 and sink["unaccounted"] == 0
    spool_file = spool / f"{run_id}.lp"
    assert sink["spool_path"] == str(spool_file) and spool_file.exists()
    assert f"{sink['spooled']} points spooled to {spool_file}" in stderr
    assert len(spool_file.read_bytes().splitlines()) == sink["spooled"]

    victoria.start()
    replay = subprocess.run(
        [*CLI, "flush-spool", *sink_args(victoria.url, spool)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert f"{sink['spooled']} points replayed" in replay.stdout and not spool_file.exists()

    numbers = points(latency(victoria, run_id, iterations)["latency_measurements_message_number"])
    assert sorted(int(v) for _, v in numbers) == list(range(1, iterations + 1))  # every one, none twice
    total = victoria.wait_for(
        f'{{__name__="run_summary_total_messages",run_id="{run_id}"}}', "run_summary_total_messages", 1
    )
    assert [v for _, v in points(total["run_summary_total_messages"])] == [iterations]


class StandIn(BaseHTTPRequestHandler):
    """A misbehaving write endpoint: answers every request with ``status`` after ``delay_s``."""

    status, delay_s, seen = 204, 0.0, []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append(self.headers.get("Authorization"))
        time.sleep(self.delay_s)
        body = b'{"code":"failed","message":"stand-in says no"}'
        try:
            self.send_response(self.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in(request):
    """``(status, delay_s)``: a stand-in server's URL and handler class; None: nothing listens."""
    if request.param is None:
        yield None
        return
    status, delay_s = request.param
    handler = type("Handler", (StandIn,), {"status": status, "delay_s": delay_s, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("stand_in", "message"),
    [
        ((401, 0.0), "HTTP 401"),
        ((404, 0.0), "HTTP 404"),
        ((500, 0.0), "HTTP 500"),
        ((204, 2.0), "no answer within 300 ms"),
        (None, "connection refused"),
    ],
    ids=["unauthorized", "wrong-url", "server-error", "slow", "refused"],
    indirect=["stand_in"],
)
def test_failing_server_run_still_succeeds_and_spools_everything(cli, tmp_path, stand_in, message):
    url, handler = stand_in if stand_in else (f"http://127.0.0.1:{free_port()}", None)
    out, spool, iterations = tmp_path / "r.json", tmp_path / "spool", 100
    proc = cli(
        *run_args(out, iterations),
        *sink_args(
            url, spool, "--influxdb-flush-ms", "100", "--influxdb-timeout-ms", "300", "--influxdb-max-retries", "1"
        ),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    sink, run_id = result["metadata"]["sink"], result["metadata"]["run_id"]
    assert result["statistics"]["successful_messages"] == iterations
    assert sink["written"] == 0 and sink["spooled"] == iterations + 1 and sink["unaccounted"] == 0
    assert message in sink["error"] and message in proc.stderr
    spool_file = spool / f"{run_id}.lp"
    assert f"{iterations + 1} points spooled to {spool_file}" in proc.stderr
    lines = spool_file.read_bytes().splitlines()
    assert len(lines) == iterations + 1 and sum(line.startswith(b"run_summary,") for line in lines) == 1
    if handler is not None:
        assert handler.seen and set(handler.seen) == {f"Token {TOKEN}"}  # sent, in the header only
    for text in (proc.stdout, proc.stderr, out.read_text(), spool_file.read_text()):
        assert TOKEN not in text


@pytest.mark.parametrize("stand_in", [(500, 0.0)], indirect=True)
def test_flush_spool_keeps_what_the_server_refused(cli, tmp_path, stand_in):
    url, _ = stand_in
    spool = tmp_path / "spool"
    spool.mkdir()
    kept = spool / "abc.lp"
    kept.write_bytes(b"latency_measurements,run_id=abc round_trip_time=1.5,message_number=1i 1700000000000000000\n")
    proc = cli("flush-spool", *sink_args(url, spool))
    assert proc.returncode == 1
    assert "HTTP 500" in proc.stdout and "1 left" in proc.stdout and kept.exists()
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["flush-spool"], "--influxdb-url (or INFLUXDB_URL) is required"),
        (["--platform", "udp", "--influxdb-url", "ftp://db"], "--influxdb-url must be an http://"),
        (
            ["--platform", "udp", "--influxdb-url", "http://127.0.0.1:1", "--influxdb-batch-size", "0"],
            "--influxdb-batch-size",
        ),
    ],
)
def test_bad_sink_input_is_one_line_exit_2(cli, args, needle):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and needle in proc.stderr


def test_flush_spool_with_nothing_to_replay(cli, tmp_path):
    proc = cli("flush-spool", "--influxdb-url", "http://127.0.0.1:1", "--spool-dir", str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr
    assert "0 points replayed from 0 of 0 spool files" in proc.stdout


def test_run_without_sink_says_so_in_metadata(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli(*run_args(out, 20))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["metadata"]["sink"] == {
        "enabled": False,
        "written": 0,
        "spooled": 0,
        "spool_path": None,
        "error": None,
    }
    assert "sink:" not in proc.stderr
