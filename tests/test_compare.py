"""Comparison statistics: honest about autocorrelation, corrected for many pairs, loss in the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from engine.parent.results import compare as cmp
from engine.parent.results.model import Statistics


def ar1(n: int, phi: float, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """An AR(1) series of unit stationary variance around 10 + shift: consecutive pings share state."""
    noise = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    x = np.empty(n)
    x[0] = rng.standard_normal()
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    return 10.0 + shift + x


def stats(loss: float, total: int = 1000) -> Statistics:
    base = dict.fromkeys(Statistics.__struct_fields__, 0)
    lost = round(loss * total)
    return Statistics(**{**base, "total_messages": total, "failed_messages": lost, "packet_loss_rate": lost / total})


def test_autocorrelated_samples_without_a_shift_are_rarely_called_different(monkeypatch):
    rng = np.random.default_rng(11)
    pairs = [(ar1(4000, 0.9, rng), ar1(4000, 0.9, rng)) for _ in range(40)]
    false_alarms = sum(cmp.quantile_differences(a, b, resamples=1000)[0].p_value < 0.05 for a, b in pairs)
    monkeypatch.setattr(cmp, "block_length", lambda x: 1)
    iid_false_alarms = sum(cmp.quantile_differences(a, b, resamples=300)[0].p_value < 0.05 for a, b in pairs)
    # 2 of 40 expected at the 5 % level; over 500 such pairs the blocks gave 6-9 %, an iid bootstrap ~50 %.
    assert false_alarms <= 7 and iid_false_alarms >= 15


def test_an_iid_bootstrap_would_be_overconfident_where_blocks_are_not(monkeypatch):
    rng = np.random.default_rng(3)
    a, b = ar1(4000, 0.9, rng), ar1(4000, 0.9, rng)
    blocked = cmp.quantile_differences(a, b)[0]
    monkeypatch.setattr(cmp, "block_length", lambda x: 1)
    iid = cmp.quantile_differences(a, b)[0]
    # Variance inflation of an AR(1) with phi 0.9 is (1 + phi) / (1 - phi) = 19: intervals ~4x wider.
    assert (blocked.high - blocked.low) > 2.5 * (iid.high - iid.low)


def test_a_real_shift_in_autocorrelated_samples_is_found():
    rng = np.random.default_rng(5)
    a, b = ar1(4000, 0.9, rng), ar1(4000, 0.9, rng, shift=0.6)
    (median, p99) = cmp.quantile_differences(a, b, (0.5, 0.99))
    assert median.p_value < 0.01 and median.high < 0
    assert median.low < -0.6 < median.high or abs(median.difference + 0.6) < 0.3
    assert p99.difference == pytest.approx(np.quantile(a, 0.99) - np.quantile(b, 0.99))


def test_block_length_follows_the_autocorrelation():
    rng = np.random.default_rng(2)
    assert cmp.block_length(rng.standard_normal(20_000)) == 28  # n^(1/3): nothing to carry
    assert cmp.block_length(ar1(100_000, 0.995, rng)) > 200  # correlated over hundreds of pings


def test_cliffs_delta_and_holm():
    assert cmp.cliffs_delta(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == -1.0
    assert cmp.cliffs_delta(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.0
    assert cmp.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert cmp.effect_magnitude(-0.5) == "large" and cmp.effect_magnitude(0.1) == "negligible"


def test_the_faster_platform_with_more_loss_is_named_so():
    rng = np.random.default_rng(0)
    rtts = {"udp": rng.normal(1.0, 0.05, 140), "webrtc": rng.normal(1.4, 0.05, 190)}
    out = cmp.compare(rtts, {"udp": stats(0.86), "webrtc": stats(0.81)})
    (pair,) = out["pairs"]
    assert out["ranking_by_median_rtt"] == ["udp", "webrtc"]
    assert pair["significant"] and pair["verdict"].startswith("udp faster by 0.3")
    assert "udp lost more pings (86.0% vs 81.0%)" in pair["verdict"]
    assert pair["effect"] == "large" and pair["cliffs_delta"] == -1.0


def test_no_ranking_from_empty_samples():
    out = cmp.compare(
        {"udp": np.zeros(0), "webrtc": np.array([1.0, 1.1, 1.2])}, {"udp": stats(1.0), "webrtc": stats(0.0)}
    )
    assert out["ranking_by_median_rtt"] == ["webrtc"] and out["unranked"] == ["udp"] and out["pairs"] == []


def test_holm_is_applied_across_pairs():
    rng = np.random.default_rng(9)
    rtts = {name: rng.normal(1.0, 0.1, 300) for name in ("a", "b", "c", "d")}
    out = cmp.compare(rtts, {name: stats(0.0) for name in rtts})
    assert len(out["pairs"]) == 6
    raw = [p["p_value"] for p in out["pairs"]]
    assert [p["p_value_holm"] for p in out["pairs"]] == pytest.approx(cmp.holm(raw), abs=1e-6)
    assert min(p["p_value_holm"] for p in out["pairs"]) >= min(raw)


def test_a_handful_of_pongs_is_never_significant():
    out = cmp.compare({"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0, 5.0])}, {"a": stats(0.0), "b": stats(0.0)})
    (pair,) = out["pairs"]
    assert pair["p_value"] == 1.0 and pair["ci95_ms"] == [None, None] and not pair["significant"]
    assert pair["verdict"] == "not significant (fewer than 20 pongs)"
