"""Statistics, clock offset and comparison: numbers checked against numpy or by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.parent.analysis import offset, stats
from engine.parent.analysis.hdr import HDR_HIGHEST_US, new_histogram, record_ns
from engine.parent.analysis.offset import ClockMode, choose_mode, estimate_offset
from engine.parent.results.compare import compare, quantile_differences
from ipc.clocks import anchors as clock

MS = 1_000_000  # ns


def ms_to_ns(values_ms: list[float]) -> np.ndarray:
    return np.array([round(v * MS) for v in values_ms], dtype=np.int64)


# -- HDR percentiles -------------------------------------------------------------------


def lognormal_ns(n: int, seed: int) -> np.ndarray:
    """RTT-like values in ns between 1 ms and 2 s (far above the histogram's 1 µs unit)."""
    rng = np.random.default_rng(seed)
    values = np.exp(rng.normal(np.log(25 * MS), 1.0, n))
    return np.clip(values, 1 * MS, 2_000 * MS).astype(np.int64)


@pytest.mark.parametrize("seed", [1, 2])
def test_hdr_percentiles_within_0_1_percent_of_exact(seed: int) -> None:
    values = lognormal_ns(100_000, seed)
    hist = new_histogram()
    for batch in np.array_split(values, 100):  # as the aggregator gets them: one frame at a time
        assert record_ns(hist, batch) == 0
    assert hist.get_total_count() == len(values)

    got = stats.hdr_percentiles_ms(hist)
    assert set(got) == set(stats.PERCENTILES) == {50.0, 95.0, 99.0, 99.9}
    # Reference: numpy's inverted_cdf, i.e. the ceil(q·n)-th smallest value. q is given as the
    # literal fraction: np.percentile(v, 99.9) divides by 100 first, 99.9/100 == 0.9990000000000001,
    # and the ceiling then lands one rank too high (the 99 901st value instead of the 99 900th), which
    # in a sparse lognormal tail is 0.2 % away and would blame the histogram for numpy's rounding.
    fractions = {50.0: 0.5, 95.0: 0.95, 99.0: 0.99, 99.9: 0.999}
    ordered_values = np.sort(values)
    for p, value_ms in got.items():
        exact_ns = np.quantile(values, fractions[p], method="inverted_cdf")
        assert exact_ns == ordered_values[round(fractions[p] * len(values)) - 1]  # the order statistic itself
        assert value_ms == pytest.approx(exact_ns / 1e6, rel=1e-3), f"p{p}"
    # Monotone in p and inside the data's range.
    ordered = [got[p] for p in stats.PERCENTILES]
    assert ordered == sorted(ordered)
    assert values.min() / 1e6 * 0.999 <= ordered[0] and ordered[-1] <= values.max() / 1e6 * 1.001


def test_hdr_single_value_and_custom_percentiles() -> None:
    hist = new_histogram()
    assert record_ns(hist, np.array([123_456_789])) == 0  # 123.456789 ms
    got = stats.hdr_percentiles_ms(hist, (0.0, 50.0, 100.0))
    for value in got.values():
        assert value == pytest.approx(123.456789, rel=1e-3)


def test_hdr_percentiles_of_empty_histogram_are_none() -> None:
    assert stats.hdr_percentiles_ms(new_histogram()) == {50.0: None, 95.0: None, 99.0: None, 99.9: None}


def test_record_ns_range_and_rounding() -> None:
    hist = new_histogram()
    values = np.array(
        [
            -1_000,  # negative: refused
            (HDR_HIGHEST_US + 1) * 1_000,  # past 60 s: refused
            HDR_HIGHEST_US * 1_000,  # exactly 60 s: kept
            1_499,  # rounds to 1 µs
            1_500,  # rounds to 2 µs
            2_400,  # rounds to 2 µs as well: recorded once with count 2
        ]
    )
    assert record_ns(hist, values) == 2
    assert hist.get_total_count() == 4
    assert hist.get_count_at_value(1) == 1 and hist.get_count_at_value(2) == 2


# -- exact descriptive statistics ----------------------------------------------------------


def test_describe_ms_matches_numpy() -> None:
    values = lognormal_ns(5_001, seed=7)
    got = stats.describe_ms(values)
    v = values.astype(np.float64)
    assert got["mean"] == pytest.approx(v.mean() / 1e6, rel=1e-12)
    assert got["median"] == pytest.approx(np.median(v) / 1e6, rel=1e-12)
    assert got["min"] == values.min() / 1e6
    assert got["max"] == values.max() / 1e6
    assert got["std"] == pytest.approx(np.std(v, ddof=1) / 1e6, rel=1e-12)
    assert got["std"] != pytest.approx(np.std(v, ddof=0) / 1e6, rel=1e-6)  # sample std, not population


def test_describe_ms_small_by_hand() -> None:
    got = stats.describe_ms(ms_to_ns([10, 12, 11, 15]))
    assert got["mean"] == pytest.approx(12.0)
    assert got["median"] == pytest.approx(11.5)
    assert (got["min"], got["max"]) == (10.0, 15.0)
    # deviations -2, 0, -1, 3 -> squares 4+0+1+9 = 14, / (4-1) -> sqrt(14/3)
    assert got["std"] == pytest.approx((14 / 3) ** 0.5)


def test_describe_ms_single_and_empty() -> None:
    assert stats.describe_ms(ms_to_ns([7.5])) == {"mean": 7.5, "median": 7.5, "min": 7.5, "max": 7.5, "std": 0.0}
    assert stats.describe_ms(np.zeros(0, np.int64)) == dict.fromkeys(("mean", "median", "min", "max", "std"))


# -- jitter ------------------------------------------------------------------------------


def test_jitter_mean_abs_diff_by_hand() -> None:
    # |12-10|, |11-12|, |15-11| = 2, 1, 4 ms -> mean 7/3 ms
    assert stats.jitter_mean_abs_diff(ms_to_ns([10, 12, 11, 15])) == pytest.approx(7 / 3, rel=1e-12)
    assert stats.jitter_mean_abs_diff(ms_to_ns([5, 5, 5])) == 0.0
    assert stats.jitter_mean_abs_diff(ms_to_ns([5])) is None
    assert stats.jitter_mean_abs_diff(np.zeros(0, np.int64)) is None


def test_jitter_rfc3550_by_hand() -> None:
    # transits 10, 12, 11, 15 ms -> D = +2, -1, +4 ms; J starts at 0, J += (|D| - J) / 16:
    #   J1 = 0        + (2 - 0)        / 16 = 0.125
    #   J2 = 0.125    + (1 - 0.125)    / 16 = 0.1796875
    #   J3 = 0.1796875 + (4 - 0.1796875) / 16 = 0.41845703125
    assert stats.jitter_rfc3550(ms_to_ns([10, 12, 11, 15])) == pytest.approx(0.41845703125, rel=1e-12)
    # a constant transit has no jitter whatever its value
    assert stats.jitter_rfc3550(ms_to_ns([40, 40, 40, 40])) == 0.0
    assert stats.jitter_rfc3550(ms_to_ns([10])) is None
    assert stats.jitter_rfc3550(np.zeros(0, np.int64)) is None


def test_loss_rate() -> None:
    assert stats.loss_rate(3, 100) == 0.03
    assert stats.loss_rate(5, 5) == 1.0
    assert stats.loss_rate(0, 10) == 0.0
    assert stats.loss_rate(0, 0) == 0.0


# -- clock offset (RFC 5905 on-wire) ----------------------------------------------------------

EPOCH_NS = 1_700_000_000_000_000_000  # realistic wall-clock ns: float64 would round these to 256 ns


def exchanges(theta_ns: int, up_ns: np.ndarray, down_ns: np.ndarray, processing_ns: int = 50_000):
    """Client wall t1w/t4w and agent t2/t3 for one-way delays ``up``/``down`` and offset θ (agent − client)."""
    n = len(up_ns)
    t1w = EPOCH_NS + np.arange(n, dtype=np.int64) * 20 * MS
    t2 = t1w + up_ns + theta_ns
    t3 = t2 + processing_ns
    t4w = t3 - theta_ns + down_ns
    return t1w, t2, t3, t4w


@pytest.mark.parametrize("theta_ns", [3 * MS, -3 * MS])
def test_estimate_offset_finds_theta_from_symmetric_min_delay_exchanges(theta_ns: int) -> None:
    rng = np.random.default_rng(11)
    base = 250_000  # 250 µs each way on an idle path
    # 8 exchanges (the clock filter's size) meet an idle, symmetric path ...
    up_sym = np.full(8, base, np.int64)
    down_sym = np.full(8, base, np.int64)
    # ... 200 others queue, mostly on the way up: any one of them alone would bias θ by ms.
    up_q = base + 1_000 + rng.exponential(2 * MS, 200).astype(np.int64)
    down_q = base + 1_000 + rng.exponential(0.2 * MS, 200).astype(np.int64)
    up = np.concatenate([up_q[:100], up_sym, up_q[100:]])
    down = np.concatenate([down_q[:100], down_sym, down_q[100:]])

    est = estimate_offset(*exchanges(theta_ns, up, down))
    assert est is not None
    assert est.samples == 208
    assert est.theta_ns == pytest.approx(theta_ns, abs=1.0)
    assert est.uncertainty_ns == base  # half the minimum network delay (2 * 250 µs)
    # The naive mean over every exchange is off by about the mean queueing asymmetry.
    naive = np.mean((up - down) / 2.0) + theta_ns
    assert abs(naive - theta_ns) > 500_000


def test_estimate_offset_error_bounded_by_half_the_filtered_delays() -> None:
    rng = np.random.default_rng(5)
    theta_ns = 3 * MS
    up = 300_000 + rng.exponential(1 * MS, 500).astype(np.int64)
    down = 200_000 + rng.exponential(0.1 * MS, 500).astype(np.int64)
    est = estimate_offset(*exchanges(theta_ns, up, down, processing_ns=80_000))
    delays = np.sort(up + down)
    assert est.uncertainty_ns == delays[0] / 2
    # Each θᵢ errs by (upᵢ − downᵢ)/2, at most delayᵢ/2; the median of the 8 best obeys the worst of them.
    assert abs(est.theta_ns - theta_ns) <= delays[7] / 2
    assert est.samples == 500


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lowest_indices_are_a_stable_argsorts_first_k_ties_included(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 20, 5000)  # many ties at every value, the boundary one included
    for k in (1, 8, 300):
        assert offset.lowest_indices(values, k).tolist() == np.argsort(values, kind="stable")[:k].tolist()
    assert offset.lowest_indices(values[:5], 8).tolist() == np.argsort(values[:5], kind="stable").tolist()


def test_estimate_offset_empty() -> None:
    empty = np.zeros(0, np.int64)
    assert estimate_offset(empty, empty, empty, empty) is None


def test_choose_mode(tmp_path, monkeypatch) -> None:
    boot = tmp_path / "boot_id"
    boot.write_text("0f9c-own-boot\n")
    monkeypatch.setattr(clock, "BOOT_ID_PATH", boot)
    assert clock.boot_id() == "0f9c-own-boot"

    assert choose_mode("auto", "0f9c-own-boot") is ClockMode.SAME_HOST
    assert choose_mode("auto", "another-host") is ClockMode.ESTIMATE
    assert choose_mode("auto", None) is ClockMode.ESTIMATE
    assert choose_mode("auto", "") is ClockMode.ESTIMATE
    # Explicit modes pass through whatever the agent's boot id.
    assert choose_mode("synced", "0f9c-own-boot") is ClockMode.SYNCED
    assert choose_mode("estimate", "0f9c-own-boot") is ClockMode.ESTIMATE
    assert choose_mode("same-host", "another-host") is ClockMode.SAME_HOST
    with pytest.raises(ValueError):
        choose_mode("bogus", None)


def test_choose_mode_without_a_readable_boot_id(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(clock, "BOOT_ID_PATH", tmp_path / "missing")
    assert clock.boot_id() == ""
    # An agent that also has no boot id must not be taken for this host.
    assert choose_mode("auto", "") is ClockMode.ESTIMATE


# -- comparison -------------------------------------------------------------------------------


def test_median_difference_separated_samples_exclude_zero() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(10.0, 1.0, 400)
    b = rng.normal(12.0, 1.5, 300)  # unequal sizes and spreads
    diff, low, high, _ = quantile_differences(a, b)[0][1:]
    assert diff == pytest.approx(np.median(a) - np.median(b))
    assert diff == pytest.approx(-2.0, abs=0.3)
    assert low <= diff <= high
    assert high < 0.0
    assert high - low < 1.0


def test_median_difference_same_distribution_includes_zero() -> None:
    rng = np.random.default_rng(4)
    a = rng.lognormal(np.log(20.0), 0.3, 500)
    b = rng.lognormal(np.log(20.0), 0.3, 350)
    diff, low, high, _ = quantile_differences(a, b)[0][1:]
    assert low <= 0.0 <= high
    assert low <= diff <= high
    # Deterministic for a given seed.
    assert quantile_differences(a, b)[0][1:4] == (diff, low, high)


def test_compare_ranks_and_judges() -> None:
    rng = np.random.default_rng(8)
    rtts = {"slow": rng.normal(30.0, 1.0, 300), "fast": rng.normal(10.0, 1.0, 300), "empty": np.zeros(0)}
    per = {p: SimpleNamespace(median_rtt=1.0, p99_rtt=2.0, packet_loss_rate=0.0, failed_messages=0, total_messages=300) for p in rtts}
    out = compare(rtts, per)
    assert out["ranking_by_median_rtt"] == ["fast", "slow"]
    (pair,) = out["pairs"]
    assert pair["platforms"] == ["fast", "slow"]
    assert pair["significant"] is True
    assert pair["median_rtt_difference_ms"] == pytest.approx(-20.0, abs=0.5)
    assert pair["verdict"].startswith("fast faster by 19.") or pair["verdict"].startswith("fast faster by 20.")
