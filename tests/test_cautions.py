"""Cautions by clock mode: what a result says about its one-way values (engine/parent/analysis/cautions.py)."""

from __future__ import annotations

import pytest

from bench_cli.summary import render
from engine.parent.analysis.offset import ClockMode
from tests import test_results
from tests.test_results import result, run_with


def clock_warnings(r) -> list[str]:
    return [w for w in r.metadata.warnings if "θ̂" in w or "one-way" in w or "clock" in w]


def test_estimate_always_says_the_split_assumes_symmetric_paths():
    r = result(run_with([(2, 2)] * 6), ClockMode.ESTIMATE)  # the agent's clock 3 ms ahead, 2 ms each way
    assert clock_warnings(r) == [
        "one-way values split the network RTT with the estimated clock offset θ̂ = +3.000 ± 2.000 ms, "
        "which assumes symmetric paths: an asymmetric path is reported as symmetric"
    ]


@pytest.mark.parametrize("mode", [ClockMode.SAME_HOST, ClockMode.SYNCED])
def test_a_clock_taken_as_equal_but_measured_off_withholds_the_one_way_values_with_one_warning(mode):
    r = result(run_with([(4, 4)] * 6), mode)  # θ̂ = 3 ± 4 ms (half the 8 ms delay): θ = 0 cannot be refuted
    assert clock_warnings(r) == [] and not r.metadata.one_way_withheld
    assert r.statistics.mean_client_to_server == pytest.approx(4 + 3)
    r = result(run_with([(1, 1)] * 6), mode)  # θ̂ = 3 ± 1 ms: θ = 0 is refuted
    assert clock_warnings(r) == [
        f"one-way values withheld: clock mode {mode.value} takes the agent's clock as equal to ours, but the "
        "measured offset is θ̂ = +3.000 ± 1.000 ms, beyond its uncertainty; rerun with --clock-mode estimate "
        "to split the RTT with θ̂ (assuming symmetric paths)"
    ]
    s, m = r.statistics, r.metadata
    assert m.one_way_withheld and not m.one_way_available and not m.legacy_agent
    assert s.mean_client_to_server is None and s.mean_server_to_client is None
    assert {row["client_to_server"] for row in r.measurements} == {None}
    assert r.histograms.client_to_server is None and r.histograms.server_to_client is None
    assert s.jitter_upstream is not None  # each direction's variation needs no agreed clock: it stays
    assert "withheld" in render(r) and "client→server" not in render(r)


def test_the_hosts_clock_bound_widens_what_theta_hat_must_refute():
    r = result(run_with([(1, 1)] * 6), ClockMode.SYNCED, clock_bound_ms=2.5)  # 3 ± 1 ms is within 1 + 2.5 ms of 0
    assert not r.metadata.one_way_withheld and r.statistics.mean_client_to_server is not None
    r = result(run_with([(1, 1)] * 6), ClockMode.SYNCED, clock_bound_ms=1.5)
    assert r.metadata.one_way_withheld
    assert "beyond its uncertainty and the clock bound 1.500 ms;" in clock_warnings(r)[0]


def test_same_host_says_nothing_when_the_offset_agrees_with_zero(monkeypatch):
    monkeypatch.setattr(test_results, "THETA", 0)
    r = result(run_with([(0.5, 3)] * 6), ClockMode.SAME_HOST)  # one-way values below θ̂'s uncertainty: still right
    assert r.statistics.mean_client_to_server == pytest.approx(0.5)
    assert clock_warnings(r) == []


def test_a_negative_mean_one_way_value_warns_in_any_mode():
    # Agent 3 ms ahead taken as 0: back is 0.5 - 3; a 5 ms clock bound keeps θ̂ from refuting it.
    r = result(run_with([(3, 0.5)] * 6), ClockMode.SYNCED, clock_bound_ms=5.0)
    assert r.statistics.mean_server_to_client == pytest.approx(-2.5)
    assert "mean server→client one-way value is negative (-2.500 ms): the clocks or the split are wrong" in (
        r.metadata.warnings
    )
