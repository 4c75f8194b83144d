"""The terminal summary says what its one-way figures are: means (beside RTT p50s), and how they were split."""

from __future__ import annotations

import click

from bench_cli.summary import render
from engine.parent.analysis.offset import ClockMode
from tests import test_results
from tests.test_results import result, run_with


def one_way_line(mode: ClockMode) -> str:
    # θ̂ = 3 ± 2 ms: a 1.5 ms clock bound keeps it from refuting θ = 0 when synced, so the values stand.
    text = click.unstyle(render(result(run_with([(2, 2)] * 4), mode, clock_bound_ms=1.5)))
    (line,) = [x for x in text.splitlines() if x.lstrip().startswith("one-way")]
    return line


def test_one_way_values_are_labelled_means():
    line = one_way_line(ClockMode.SYNCED)
    assert "mean client→server 5.000 ms  mean server→client -1.000 ms  (means, not p50s;" in line


def test_theta_in_same_host_and_synced_mode_is_only_a_check(monkeypatch):
    monkeypatch.setattr(test_results, "THETA", 0)  # one clock: θ̂ agrees with 0
    assert one_way_line(ClockMode.SAME_HOST).endswith(
        "(means, not p50s; clock mode same-host: θ = 0 (same kernel clock); θ̂ 0.000 ms ± 2.000 ms is only a check)"
    )
    monkeypatch.setattr(test_results, "THETA", 3_000_000)
    assert "clock mode synced: θ = 0 (clocks stated synced); θ̂ 3.000 ms ± 2.000 ms is only a check" in (
        one_way_line(ClockMode.SYNCED)
    )


def test_estimate_says_its_split_uses_theta_and_assumes_symmetry():
    line = one_way_line(ClockMode.ESTIMATE)
    assert line.endswith("(means, not p50s; split with θ̂ 3.000 ms ± 2.000 ms, assuming symmetric paths)")


def test_an_impaired_run_says_so():
    r = result(run_with([(2, 2)] * 4), ClockMode.SAME_HOST)
    assert "impaired" not in click.unstyle(render(r))
    r.metadata.impairment = {"text": "delay=5,loss=2%", "seed": 0, "truth_log": "t.jsonl"}
    assert "  impaired  through the proxy: delay=5,loss=2% (seed 0), truth in t.jsonl" in click.unstyle(render(r))


def test_each_direction_has_its_line_with_loss_jitter_variation_and_one_way_with_its_bound(monkeypatch):
    monkeypatch.setattr(test_results, "THETA", 0)
    r = result(run_with([(2, 2), (3, 2), (2, 2.5)] * 2, lost=[9, 10]), ClockMode.SAME_HOST)
    lines = click.unstyle(render(r)).splitlines()
    up = next(x for x in lines if x.startswith("  up "))
    down = next(x for x in lines if x.startswith("  down "))
    assert up == (
        "  up        lost 0, jitter 0.800 ms, delay above its minimum p99 1.000 ms, "
        "one-way p50 2.000 ± 0.000 ms, p99 3.000 ± 0.000 ms"
    )
    assert down.startswith("  down      lost 0, jitter 0.300 ms, delay above its minimum p99 0.500 ms")
    assert "            2 lost ping(s) of unknown direction (the agent kept no record)" in lines
