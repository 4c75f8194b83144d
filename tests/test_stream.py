"""``--stream``: lines while the run goes, each ping once with the result file's values, statistics last;
read back by report and compare, whole or cut off; a failing stream stops alone.

Real CLI, real embedded agents, real impairment proxy (for lost pings) on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import numpy as np

from engine.parent.reports.stream_file import CUT_OFF, load_stream
from engine.parent.results.model import load, platform_results
from tests.conftest import CLI, cli_env
from tests.test_cli_errors import assert_one_line_error

#: A pong line's fields that are the result file's measurement fields, same names and units.
SHARED = (
    "round_trip_time",
    "client_to_server",
    "server_to_client",
    "message_number",
    "server_processing",
    "network_rtt",
    "send_lag",
)


def _seconds(ns: int) -> float:
    """The result file's ``timestamp`` of an instant: Unix seconds, rounded to the µs as numpy rounds."""
    return float(np.round(np.array([ns]) / 1e9, 6)[0])


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_twenty_second_run_streams_every_ping_once_with_the_files_values(tmp_path):
    out = tmp_path / "r.json"
    args = ["--platform", "udp", "--iterations", "2000", "--cooldown", "10", "--warmup", "5"]
    args += ["--impair", "loss=3%,seed=7", "--stream", "-", "--output", str(out)]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=tmp_path)
    arrivals: list[tuple[float, bytes]] = []
    stderr: list[bytes] = []
    err_reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
    err_reader.start()
    for raw in proc.stdout:
        arrivals.append((time.monotonic(), raw))
    assert proc.wait(120) == 0, b"".join(stderr)
    ended = time.monotonic()
    err_reader.join(10)

    lines = [json.loads(raw) for _, raw in arrivals]  # every line on stdout is JSON: the summary went to stderr
    assert b"pings" in b"".join(stderr) and b"answered" in b"".join(stderr)
    first_pong = next(t for (t, _), line in zip(arrivals, lines) if line["type"] == "pong")
    assert ended - first_pong > 10, "the first pong line came at the end, not during the 20 s run"
    header, end = lines[0], lines[-1]
    assert header["type"] == "header" and header["v"] == 1 and end["type"] == "end"
    assert header["platforms"]["udp"]["clock_mode"] == "same-host"

    result = json.loads(out.read_text())
    pongs = {line["message_number"]: line for line in lines if line["type"] == "pong"}
    lost = {line["message_number"]: line for line in lines if line["type"] == "lost"}
    numbers = [line["message_number"] for line in lines if line["type"] in ("pong", "lost")]
    assert sorted(numbers) == list(range(1, 2001)), "a ping missing or streamed twice"
    assert lost, "the proxy dropped no ping: the lost lines were not exercised"
    assert len(result["measurements"]) == len(pongs) and len(result["lost"]) == len(lost)
    for row in result["measurements"]:
        line = pongs[row["message_number"]]
        assert {k: line[k] for k in SHARED} == {k: row[k] for k in SHARED}
        assert _seconds(line["t1_ns"]) == row["timestamp"]
        assert line["t4_ns"] - line["t1_ns"] == round(row["round_trip_time"] * 1e6)
    for name, source in result["metadata"]["timestamp_source"].items():
        stamped = sum(name in line["kernel"] for line in pongs.values())
        assert source == {len(pongs): "kernel", 0: "user"}.get(stamped, f"kernel for {stamped} of {len(pongs)}")
    for entry in result["lost"]:
        assert _seconds(lost[entry["message_number"]]["t1_ns"]) == entry["timestamp"]
    final = end["platforms"]["udp"]
    assert final["statistics"] == result["statistics"]
    assert final["statistics"]["failed_messages"] == len(lost)
    assert final["histograms"] == result["histograms"]

    back = load_stream(b"".join(raw for _, raw in arrivals))
    as_file = load(out.read_bytes())
    assert list(back.measurements) == list(as_file.measurements)
    assert back.lost == as_file.lost and back.statistics == as_file.statistics and not back.metadata.partial


def test_side_by_side_stream_reads_back_as_the_multi_result(cli, tmp_path):
    out, stream = tmp_path / "r.json", tmp_path / "s.ndjson"
    proc = cli(
        "--platform",
        "udp,webrtc",
        "--iterations",
        "80",
        "--cooldown",
        "10",
        "--output",
        str(out),
        "--stream",
        str(stream),
    )
    assert proc.returncode == 0, proc.stderr
    back, as_file = load_stream(stream.read_bytes()), load(out.read_bytes())
    assert back.comparison == as_file.comparison
    for platform, r in platform_results(as_file).items():
        b = platform_results(back)[platform]
        assert list(b.measurements) == list(r.measurements) and b.statistics == r.statistics


def test_stream_cut_off_by_sigkill_reads_back_as_partial(cli, tmp_path):
    stream = tmp_path / "s.ndjson"
    args = ["--platform", "udp", "--iterations", "3000", "--cooldown", "5", "--stream", str(stream), "--quiet"]
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(), cwd=tmp_path
    )
    deadline = time.monotonic() + 60
    while (not stream.exists() or stream.read_text().count('"type":"pong"') < 200) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    data = stream.read_bytes()
    lines = _lines(data.decode())
    pings = sum(line["type"] in ("pong", "lost") for line in lines)
    assert 200 <= pings < 3000 and lines[-1]["type"] != "end"

    report = cli("report", str(stream), "--markdown", str(tmp_path / "t.md"))
    assert report.returncode == 0, report.stderr
    assert f"{stream}: udp is partial (a stream cut off before its end line)" in report.stderr
    row = [line for line in (tmp_path / "t.md").read_text().splitlines() if line.startswith("| udp")][0]
    assert row.split("|")[5].strip() == str(pings)

    torn = tmp_path / "torn.ndjson"  # a write cut mid-line: the torn line is left out, the rest reads
    cut = data[: data.rindex(b'{"type":"pong"') + 40]
    torn.write_bytes(cut)
    whole = _lines(cut[: cut.rindex(b"\n") + 1].decode())
    back = load_stream(cut)
    assert back.metadata.partial and CUT_OFF in back.metadata.warnings
    assert back.statistics.total_messages == sum(line["type"] in ("pong", "lost") for line in whole)
    compare = cli("compare", str(stream), str(torn))
    assert compare.returncode == 0, compare.stderr
    assert f"{torn}: udp is partial" in compare.stderr


def test_full_disk_stops_the_stream_with_one_warning_and_the_run_goes_on(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli(
        "--platform", "udp", "--iterations", "50", "--cooldown", "5", "--stream", "/dev/full", "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "--stream" in line]
    assert warnings == [
        "benchmark-runner: warning: --stream /dev/full: [Errno 28] No space left on device: the stream stops here, the run goes on"
    ]
    assert json.loads(out.read_text())["statistics"]["successful_messages"] == 50


def test_stream_bad_input_is_one_line(cli, tmp_path):
    assert_one_line_error(cli("--platform", "udp", "--stream", "-", "--output", "-"), "--stream -")
    assert_one_line_error(cli("--platform", "udp", "--stream", str(tmp_path / "no" / "s.ndjson")), "--stream")
    not_stream = tmp_path / "x.ndjson"
    not_stream.write_text('{"type":"pong","platform":"udp"}\n')
    assert_one_line_error(cli("report", str(not_stream), "--markdown", str(tmp_path / "t.md")), "header")
