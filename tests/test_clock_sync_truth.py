"""A synced run between two "hosts" whose clock bounds come from a real chronyd, against the proxy's truth.

Runner and agent both read chronyd (``--clock-source chrony:127.0.0.1:PORT``); the agent hides its boot id
(tests/clock_shift), so ``--clock-mode auto`` cannot take the same-host way and must choose synced on the
hosts' bounds. A second agent's clock runs 250 ms ahead while chronyd still vouches for both: the run's
own θ̂ refutes the claim and the one-way values are withheld.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ipc.children import AGENT_READY_PREFIX, start_child, stop_process
from tests.chrony_pair import chrony_pair
from tests.impair_truth import REALTIME, agent_env_with_clock_shift, per_ping, run_through_proxy

TOLERANCE_MS = 0.3
SHIFT_NS = 250_000_000


@pytest.fixture(scope="module")
def chrony(tmp_path_factory):
    with chrony_pair(tmp_path_factory.mktemp("chrony")) as cmdport:
        yield f"chrony:127.0.0.1:{cmdport}"


def other_host_agent(source: str, shift_ns: int):
    env = {**agent_env_with_clock_shift(shift_ns), "HIDE_BOOT_ID": "1", "RTC_BENCH_CLOCK_SOURCE": source}
    argv = [*REALTIME, sys.executable, "-m", "agent", "--platform", "webrtc", "--host", "127.0.0.1", "--port", "0"]
    return start_child(argv, AGENT_READY_PREFIX, "agent on 'another host'", env=env)


@pytest.mark.parametrize("shift_ns", [0, SHIFT_NS])
def test_auto_chooses_synced_on_chronys_bounds_and_withholds_what_theta_hat_refutes(tmp_path, chrony, shift_ns):
    proc, url = other_host_agent(chrony, shift_ns)
    try:
        r, packets = run_through_proxy(
            tmp_path, "synced", "up.delay=2,down.delay=8", "--cooldown", "5", "--agent-url", url,
            "--clock-source", chrony, iterations=300,
        )  # fmt: skip
    finally:
        stop_process(proc)
    s, m = r["statistics"], r["metadata"]
    clocks = m["clock_sources"]
    assert m["clock_mode"] == "synced" and not m["agent"]["same_host"]
    assert {clocks[host][end]["source"] for host in ("runner", "agent") for end in ("start", "end")} == {"chrony"}
    bound = m["clock_bound_ms"]
    assert 0 < bound < 1.0
    assert bound == pytest.approx(
        max(clocks["runner"][e]["bound_ms"] for e in ("start", "end"))
        + max(clocks["agent"][e]["bound_ms"] for e in ("start", "end")),
        abs=1e-6,
    )
    if shift_ns:
        theta, uncertainty = m["clock_offset_ms"], m["clock_offset_uncertainty_ms"]
        assert abs(theta - shift_ns / 1e6) <= uncertainty
        assert m["one_way_withheld"] and m["one_way_bound_ms"] is None
        assert [s[k] for k in ("mean_client_to_server", "p50_client_to_server", "p99_server_to_client")] == [None] * 3
        (warning,) = [w for w in m["warnings"] if "withheld" in w]
        assert f"θ̂ = {theta:+.3f} ± {uncertainty:.3f} ms" in warning and "--clock-mode estimate" in warning
        assert s["jitter_upstream"] is not None  # each direction's variation stands
        return
    x = per_ping(r, packets)
    assert not m["one_way_withheld"] and m["one_way_bound_ms"] == pytest.approx(bound, abs=1e-6)
    # What the proxy held each way, plus the wire and the agent around it (tens of µs on loopback).
    assert s["p50_client_to_server"] == pytest.approx(np.median(x["hold_up"]), abs=bound + TOLERANCE_MS)
    assert s["p50_server_to_client"] == pytest.approx(np.median(x["hold_down"]), abs=bound + TOLERANCE_MS)
    assert np.median(np.abs(x["c2s"] - x["hold_up"])) <= bound + TOLERANCE_MS
