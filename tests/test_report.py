"""``benchmark-runner report``: one self-contained HTML page checked in headless Chromium, Markdown and CSV."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from engine.parent.results import histograms
from testbed.synthetic_results import result_of, write

DAY = 86_400.0
T0 = 1_790_000_000.0
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def lognormal_ns(median_ms: float, n: int, seed: int, sigma: float = 0.2) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median_ms * 1e6), sigma, n).astype(np.int64)


@pytest.fixture
def chromium():
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("the report's browser test needs Debian's chromium: apt-get install chromium")
    return path


def with_wire(result, wire_ms: float) -> None:
    """A result whose stack gave a transport RTT (ICE STUN) of ``wire_ms``."""
    s = result.statistics
    s.transport_rtt_p50, s.transport_rtt_p99 = wire_ms, wire_ms
    s.endpoint_share_p50 = round(s.p50_rtt - wire_ms, 3)
    result.metadata.transport_rtt_source = "ICE STUN"


@pytest.fixture
def three_files(tmp_path):
    """Two locations: us-west-2 in two files (udp twice the same day, webrtc on two days), eu-central-1 in one."""
    folder = tmp_path / "results"
    folder.mkdir()
    samples = {
        "a": lognormal_ns(1.0, 3000, 1),
        "a_webrtc": lognormal_ns(2.0, 3000, 2),
        "b": lognormal_ns(30.0, 1500, 3, 0.4),
        "c": lognormal_ns(1.1, 3000, 4),
        "c_webrtc": lognormal_ns(2.2, 3000, 5),
    }
    webrtc_a = result_of(samples["a_webrtc"], "webrtc", location="us-west-2", start=T0)
    with_wire(webrtc_a, 0.5)
    write(
        folder / "a.json",
        result_of(samples["a"], location="us-west-2", start=T0, lost=(5, 50, 51, 52, 2000), late=(51, 2000)),
        webrtc_a,
    )
    lost_b = tuple(range(100, 130))  # all on the way out, as the agent's record says
    write(folder / "b.json", result_of(samples["b"], location="eu-central-1", start=T0, lost=lost_b, lost_upstream=lost_b))
    write(
        folder / "c.json",
        result_of(samples["c"], location="us-west-2", start=T0 + 600),
        result_of(samples["c_webrtc"], "webrtc", location="us-west-2", start=T0 + DAY),
    )
    return folder, samples


@pytest.mark.server
def test_the_page_draws_every_plot_with_data_and_no_errors(cli, chromium, three_files, tmp_path):
    folder, _ = three_files
    page = tmp_path / "report.html"
    proc = cli("report", str(folder), "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    # Self-contained: no external resource anywhere, and the page's policy forbids any connection.
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", text)
    assert "default-src 'none'" in text

    profile = tmp_path / "profile"
    browse = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*browse, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert "CONSOLE" not in dom.stderr, dom.stderr  # Chromium logs every console message and uncaught error here
    assert 'data-errors="0"' in dom.stdout and '<pre id="errors" hidden="">' in dom.stdout
    # The split bars and 1 platforms plot; per location (2) percentiles + CDF; per platform/location/day (4)
    # RTT and loss over time, and each direction's delay above its minimum.
    assert 'data-plots-drawn="18"' in dom.stdout
    plots = re.findall(r'<svg class="plot"[^>]*data-title="([^"]*)" data-points="(\d+)"', dom.stdout)
    assert len(plots) == 18 and all(int(n) > 0 for _, n in plots), plots
    # One stacked bar where the wire is known (webrtc on the first day); every other group says it is missing.
    bars = re.findall(r'<g class="split" data-name="([^"]*)" data-wire="([^"]*)"', dom.stdout)
    assert len(bars) == 4 and [w for _, w in bars].count("0.5") == 1, bars
    assert dom.stdout.count("transport RTT missing</text>") == 3
    titles = [t for t, _ in plots]
    assert titles.count("RTT by percentile — us-west-2") == 1 and titles.count("CDF of RTT — eu-central-1") == 1
    assert (
        sum(t.startswith("RTT over time") for t in titles) == 4
        and sum(t.startswith("Loss over time") for t in titles) == 4
    )
    # Every drawn line/dot series has points; the lost marks are there where pings were lost.
    series = re.findall(r'<g class="series" data-name="([^"]*)" data-points="(\d+)"', dom.stdout)
    assert all(int(n) > 0 for name, n in series if not name.startswith(("lost", "late"))), series
    assert ("lost (30)", "30") in series and ("lost (5)", "5") in series and ("late (2)", "2") in series
    assert sum(t.startswith("One-way delay above its minimum, up vs down") for t in titles) == 4
    ways = [name for name, _ in series if name.endswith(("upstream", "downstream"))]
    # A line per run (5) each way, and b's loss on the way out; no loss was downstream.
    assert sum(name.endswith(": upstream") for name in ways) == 5 + 1
    assert sum(name.endswith(": downstream") for name in ways) == 5

    shot = tmp_path / "report.png"  # kept as the test's artifact
    subprocess.run(
        [*browse, "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_groups_merge_through_histograms_in_the_markdown(cli, three_files, tmp_path):
    folder, samples = three_files
    md = tmp_path / "report.md"
    assert (
        cli(
            "report", str(folder / "a.json"), str(folder / "b.json"), str(folder / "c.json"), "--markdown", str(md)
        ).returncode
        == 0
    )
    rows = [line.split(" | ") for line in md.read_text().splitlines()[2:]]
    assert [r[:4] for r in rows] == [
        ["| udp", "eu-central-1", "2026-09-21", "1"],
        ["| udp", "us-west-2", "2026-09-21", "2"],
        ["| webrtc", "us-west-2", "2026-09-21", "1"],
        ["| webrtc", "us-west-2", "2026-09-22", "1"],
    ]
    udp_west = rows[1]
    assert udp_west[4] == "6005" and udp_west[5] == f"{5 / 6005:.2%}"
    # udp in us-west-2: two runs merged = one histogram over both runs' samples.
    both = histograms.from_ns(np.concatenate([samples["a"], samples["c"]]))
    assert float(udp_west[8]) == pytest.approx(both.get_value_at_percentile(99) / 1e3, abs=1e-3)
    assert float(udp_west[8]) == pytest.approx(
        np.percentile(np.concatenate([samples["a"], samples["c"]]) / 1e6, 99), rel=2e-3
    )


def test_csv_has_every_measured_ping(cli, three_files, tmp_path):
    folder, samples = three_files
    out = tmp_path / "pings.csv"
    assert cli("report", str(folder), "--csv", str(out)).returncode == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(s) for s in samples.values())
    eu = [r for r in rows if r["location_id"] == "eu-central-1"]
    assert [float(r["round_trip_time"]) for r in eu] == pytest.approx((samples["b"] / 1e6).tolist(), abs=1e-6)
    assert eu[0]["platform"] == "udp" and eu[0]["message_number"] == "1"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give at least one of --html, --markdown, --csv"),
        (["--html", "/nonexistent/x.html"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, three_files, args, needle):
    folder, _ = three_files
    proc = cli("report", str(folder), *args)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_files_written_before_histograms_report_the_same(cli, three_files, tmp_path):
    folder, _ = three_files
    before, after = tmp_path / "before.md", tmp_path / "after.md"
    assert cli("report", str(folder), "--markdown", str(before)).returncode == 0
    for path in folder.glob("*.json"):
        doc = json.loads(path.read_text())
        for r in doc.get("results", {"": doc}).values():
            del r["histograms"]
        path.write_text(json.dumps(doc))
    assert cli("report", str(folder), "--markdown", str(after)).returncode == 0
    assert after.read_text() == before.read_text()
