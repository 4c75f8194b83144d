"""Each host's clock bound, read from its own clock discipline (ipc/clocks/discipline.py): a real chronyd
pair on 127.0.0.1, this machine's kernel, and ClockBound segments written in its v2 layout."""

from __future__ import annotations

import ctypes
import struct
import subprocess
import sys
import time

import pytest

from engine.parent.analysis.offset import AUTO_SYNCED_BOUND_MS, ClockMode, choose_mode, hosts_bound_ms
from ipc.clocks import adjtimex, clockbound
from ipc.clocks.discipline import Reading, parse, read
from ipc.errors import BenchError
from tests.chrony_pair import chrony_pair, tracking
from tests.conftest import cli_env

# -- chrony ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chrony(tmp_path_factory):
    with chrony_pair(tmp_path_factory.mktemp("chrony")) as cmdport:
        yield cmdport


def test_the_chrony_bound_is_chronycs_own_figures(chrony):
    """|offset| + root dispersion + root delay / 2 of what chronyc prints, read between two chronyc calls
    of the same chronyd update (every 1/16 s here)."""
    for _ in range(50):
        before = tracking(chrony).split(",")
        reading = read(f"chrony:127.0.0.1:{chrony}")
        after = tracking(chrony).split(",")
        if before[3] == after[3]:  # the same reference time: no update in between
            break
    else:
        pytest.fail("chronyd updated between every pair of reads")
    raw = reading.raw
    assert reading.source == "chrony" and raw["leap_status"] == before[13] == "Normal"
    expected = abs(raw["system_time_offset_s"]) + raw["root_dispersion_s"] + raw["root_delay_s"] / 2
    assert reading.bound_ms == pytest.approx(expected * 1e3, rel=1e-12)
    # Offset and dispersion move on between updates as chronyd extrapolates: ours lies between chronyc's two.
    bounds = [(abs(float(x[4])) + float(x[11]) + float(x[10]) / 2) * 1e3 for x in (before, after)]
    assert min(bounds) - 1e-6 <= reading.bound_ms <= max(bounds) + 1e-6  # chronyc prints 1 ns steps
    assert raw["root_delay_s"] == float(before[10])
    assert 0 < reading.bound_ms < 1.0  # a loopback server: microseconds


def test_a_chronyd_that_does_not_answer_gives_no_bound_and_says_why():
    reading = read("chrony:127.0.0.1:9")  # nothing listens on the discard port's UDP here
    assert reading.bound_ms is None and reading.why.startswith("chrony")


# -- adjtimex ----------------------------------------------------------------------------------


def test_adjtimex_reads_the_kernels_view_and_gives_a_bound_only_when_synchronised():
    assert ctypes.sizeof(adjtimex.Timex) == 208  # struct timex on 64-bit Linux
    reading = read("adjtimex")
    raw = reading.raw
    if raw["status"] & adjtimex.STA_UNSYNC:  # this machine kind: nothing disciplines the clock (CLOCKS.md)
        assert reading.bound_ms is None and "STA_UNSYNC" in reading.why
        assert raw["state"] == adjtimex.TIME_ERROR and raw["maxerror_us"] == 16_000_000
    else:
        assert reading.bound_ms == raw["maxerror_us"] / 1e3


# -- ClockBound --------------------------------------------------------------------------------


def segment(path, *, generation=10, age_s=0.5, void_in_s=10.0, bound_ns=20_000, drift_ppb=50_000, status=1, magic=None):
    """A ClockBound v2 segment as its daemon writes it: instants on CLOCK_MONOTONIC_COARSE."""
    now = time.clock_gettime_ns(clockbound.CLOCK_MONOTONIC_COARSE)
    as_of, void_after = now - int(age_s * 1e9), now + int(void_in_s * 1e9)
    data = struct.pack(
        "=8sIHHqqqqqQIiB7x", magic or clockbound.MAGIC, 80, 2, generation,
        as_of // 10**9, as_of % 10**9, void_after // 10**9, void_after % 10**9, bound_ns, 0, drift_ppb, status, 0,
    )  # fmt: skip
    path.write_bytes(data)
    return path


def test_clockbound_adds_the_drift_since_its_reading(tmp_path):
    path = segment(tmp_path / "shm0", age_s=2.0)
    reading = read(f"clockbound:{path}")
    # 20 µs at as-of, + 50,000 ppb × 2 s = 100 µs (the coarse clock ticks every few ms: ± 1 µs at 50 ppm)
    assert reading.bound_ms == pytest.approx(0.120, abs=0.002)
    assert reading.raw["status"] == "synchronized" and reading.raw["max_drift_ppb"] == 50_000


def test_clockbound_free_running_still_bounds_and_says_so(tmp_path):
    reading = read(f"clockbound:{segment(tmp_path / 'shm0', status=2, age_s=0.0)}")
    assert reading.bound_ms == pytest.approx(0.020, abs=0.001) and reading.raw["status"] == "free-running"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"generation": 11}, "was being written through 100 reads (odd generation)"),
        ({"void_in_s": -1.0}, "ClockBound's reading is void since"),
        ({"status": 3}, "ClockBound says the clock is disrupted"),
        ({"status": 0}, "ClockBound says the clock is unknown"),
        ({"magic": b"NOTCLOCK"}, "is not a ClockBound v2 segment"),
    ],
)
def test_clockbound_refuses_what_it_cannot_trust(tmp_path, fields, why):
    reading = read(f"clockbound:{segment(tmp_path / 'shm0', **fields)}")
    assert reading.bound_ms is None and why in reading.why


def test_clockbound_without_a_segment_says_where_it_looked(tmp_path):
    reading = read(f"clockbound:{tmp_path / 'none'}")
    assert reading.bound_ms is None and str(tmp_path / "none") in reading.why


# -- choosing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["sundial", "adjtimex:1", "chrony:host", "chrony::123", "chrony:h:0", "none:x"]
)
def test_bad_clock_sources_are_refused(spec):
    with pytest.raises(BenchError, match="--clock-source"):
        parse(spec)


def test_none_gives_no_bound():
    assert read("none") == Reading("none", why="no clock source asked for (--clock-source none)")


def test_auto_chooses_synced_only_when_both_hosts_bound_their_clocks_closely():
    small, large = {"bound_ms": 0.3}, {"bound_ms": AUTO_SYNCED_BOUND_MS}
    assert hosts_bound_ms([small, {"bound_ms": 0.4}], [small]) == pytest.approx(0.7)  # each host's larger reading
    assert hosts_bound_ms([small], [{"why": "unsynchronised"}]) is None
    assert hosts_bound_ms([small, None], [small]) is None  # a reading missing at one end
    assert choose_mode("auto", "another-boot", 0.7) is ClockMode.SYNCED
    assert choose_mode("auto", "another-boot", hosts_bound_ms([small], [large])) is ClockMode.ESTIMATE
    assert choose_mode("auto", "another-boot", None) is ClockMode.ESTIMATE
    assert choose_mode("estimate", "another-boot", 0.1) is ClockMode.ESTIMATE  # asked for: kept


def test_a_bad_clock_source_is_one_line_and_exit_2_for_the_runner_and_from_its_environment(cli):
    proc = cli("--platform", "udp", "--clock-source", "sundial")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("benchmark-runner: error: --clock-source 'sundial': expected one of auto, clockbound")
    proc = cli("--platform", "udp", env={**cli_env(), "RTC_BENCH_CLOCK_SOURCE": "chrony:nohost"})
    assert proc.returncode == 2 and "expected chrony:HOST:PORT" in proc.stderr


def test_a_bad_clock_source_stops_the_agent_before_it_listens():
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--port", "0", "--clock-source", "adjtimex:now"],
        capture_output=True, text=True, timeout=60, env=cli_env(),
    )  # fmt: skip
    assert proc.returncode == 2 and "--clock-source 'adjtimex:now': adjtimex takes no argument" in proc.stderr
