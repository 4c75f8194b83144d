"""``benchmark-runner compare``: per-platform changes with significance, and exit codes a CI job can gate on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from testbed.synthetic_results import result_of, write


def lognormal_ns(median_ms: float, n: int, seed: int, sigma: float = 0.2) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median_ms * 1e6), sigma, n).astype(np.int64)


@pytest.fixture
def files(tmp_path):
    """baseline: udp and webrtc; same: both again (fresh noise); slower: udp's p99 ~+30 %, webrtc unchanged."""
    base = write(
        tmp_path / "base.json", result_of(lognormal_ns(1.0, 3000, 1)), result_of(lognormal_ns(2.0, 3000, 2), "webrtc")
    )
    same = write(
        tmp_path / "same.json", result_of(lognormal_ns(1.0, 3000, 3)), result_of(lognormal_ns(2.0, 3000, 4), "webrtc")
    )
    slow = write(
        tmp_path / "slow.json",
        # wider tail, 2 % loss, all of it on the way out
        result_of(lognormal_ns(1.0, 3000, 5, sigma=0.32), lost=tuple(range(10, 70)), lost_upstream=tuple(range(10, 70))),
        result_of(lognormal_ns(2.0, 3000, 6), "webrtc"),
    )
    return base, same, slow


def test_no_change_passes_the_gate(cli, files):
    base, same, _ = files
    proc = cli("compare", str(base), str(same), "--fail-if", "p99_rtt>+10%", "--fail-if", "loss>+1pp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # p50/p95/p99, loss, loss up and loss down per platform; the direction's jitter and variation have no test
    assert proc.stdout.count("not significant") == 12 and "FAIL" not in proc.stderr


def test_a_p99_regression_fails_the_gate(cli, files):
    base, _, slow = files
    proc = cli("compare", str(base), str(slow), "--fail-if", "p99_rtt>+10%")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("FAIL udp: p99_rtt +") and "passes p99_rtt>+10% (significant)" in line
    udp = proc.stdout.split("webrtc")[0]
    p99 = next(row for row in udp.splitlines() if row.strip().startswith("p99_rtt"))
    assert "slower" in p99 and "significant (p=" in p99 and "not significant" not in p99
    loss = next(row for row in udp.splitlines() if "packet_loss_rate" in row)
    assert "0.00%    ->     1.96%" in loss and "+1.96 pp" in loss and " significant" in loss


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ("p99_rtt>+50%", 0), ("loss>+1pp", 1), ("loss>+5pp", 0), ("p50_rtt>+0.5ms", 0), ("p99_rtt<-10%", 0),
        ("loss_upstream>+1pp", 1), ("loss_downstream>+1pp", 0), ("jitter_upstream>+10%", 1), ("jitter_upstream>+90%", 0),
        ("owd_variation_downstream_p99>+10%", 1),
    ],
)
def test_thresholds(cli, files, rule, code):
    base, _, slow = files
    assert cli("compare", str(base), str(slow), "--fail-if", rule).returncode == code


def test_without_per_ping_data_the_change_alone_decides(cli, files, tmp_path):
    base, _, slow = files
    for path in (base, slow):  # as --summary-only would write them
        doc = json.loads(path.read_text())
        for r in doc["results"].values():
            r["measurements"] = []
        path.write_text(json.dumps(doc))
    proc = cli("compare", str(base), str(slow), "--fail-if", "p99_rtt>+10%")
    assert proc.returncode == 1 and "significance n/a" in proc.stderr
    assert "significance n/a (no per-ping data)" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--fail-if", "p99>10"], "expected METRIC>+N%"),
        (["--fail-if", "jitter>+10%"], "unknown metric 'jitter'"),
        (["--fail-if", "p99_rtt>+1pp"], "use pp or % for packet_loss_rate"),
    ],
)
def test_bad_rules_are_one_line_and_exit_2(cli, files, args, needle):
    base, same, _ = files
    proc = cli("compare", str(base), str(same), *args)
    (line,) = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and line.startswith(f"benchmark-runner: error: --fail-if {args[1]!r}: ")
    assert needle in proc.stderr


def test_bad_files_are_one_line_and_exit_2(cli, files, tmp_path):
    base, _, _ = files
    (tmp_path / "junk.json").write_text("{not json")
    other = write(tmp_path / "other.json", result_of(lognormal_ns(1.0, 50, 1), "livekit"))
    for new, needle in (
        (tmp_path / "missing.json", "no such file"),
        (tmp_path / "junk.json", "not a result file"),
        (other, "no platform in common"),
    ):
        proc = cli("compare", str(base), str(new))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_a_direction_figure_at_zero_before_is_compared_in_ms(cli, tmp_path):
    flat = np.full(500, 2_000_000, dtype=np.int64)  # every RTT equal: each direction's jitter and variation are 0
    base = write(tmp_path / "flat.json", result_of(flat))
    new = write(tmp_path / "bumpy.json", result_of(lognormal_ns(2.0, 500, 9)))
    proc = cli("compare", str(base), str(new), "--fail-if", "jitter_upstream>+0.01ms")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    row = next(r for r in proc.stdout.splitlines() if r.strip().startswith("jitter_upstream"))
    assert "    0.000 ms ->" in row and "ms  +0." in row
