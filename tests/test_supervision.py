"""The runner stopped from outside: SIGTERM and SIGHUP act as Ctrl-C does, SIGKILL leaves no orphans.

Every run here is the installed ``benchmark-runner`` script, as users start it;
each test records every descendant process while the run is pinging and
asserts that none of them is alive afterwards.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.agent_stub import StubAgent
from tests.conftest import cli_env
from tests.processes import BENCHMARK_RUNNER, Watched, cmdline, descendants, wait_gone

#: 20,000 pings at 2 ms: 40 s of pinging, so a stop always lands mid-run and a child that ran on would be seen.
ITERATIONS = 20_000
LONG_RUN = ["--platform", "udp", "--iterations", str(ITERATIONS), "--cooldown", "2"]


def _workers(pids: set[int]) -> set[int]:
    return {pid for pid in pids if "engine.worker" in cmdline(pid)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_keeps_the_partial_result_and_releases_the_room(tmp_path, sig):
    out = tmp_path / "r.json"
    with StubAgent() as agent:
        run = Watched(
            [BENCHMARK_RUNNER, *LONG_RUN, "--agent-url", agent.url, "--output", str(out)], cwd=tmp_path, env=cli_env()
        )
        run.wait_for("pinging", within_s=60)
        family = descendants(run.proc.pid)
        assert len(_workers(family)) == 1, [cmdline(p) for p in family]
        run.proc.send_signal(sig)
        code, stdout, stderr = run.finish(within_s=30)
        assert agent.disconnected == ["stub"]
    assert code == 128 + sig, stderr
    assert f"interrupted by {sig.name}: partial results kept" in stderr
    assert "Traceback" not in stderr
    result = json.loads(out.read_text())
    assert result["metadata"]["partial"] is True
    assert 0 < result["statistics"]["successful_messages"] < ITERATIONS
    assert result["metadata"]["pings_sent"] < ITERATIONS  # the worker stopped pinging, it did not run out its schedule
    assert "PARTIAL" in stdout
    assert wait_gone(family, within_s=10) == set()


def test_sigkill_of_the_runner_leaves_no_worker_or_embedded_agent(tmp_path):
    run = Watched([BENCHMARK_RUNNER, *LONG_RUN], cwd=tmp_path, env=cli_env())
    run.wait_for("pinging", within_s=60)
    family = descendants(run.proc.pid)
    commands = [cmdline(p) for p in family]
    assert any("engine.worker" in c for c in commands) and any("-m agent" in c for c in commands), commands
    run.proc.kill()
    run.finish(within_s=10)
    # The kernel signals each child at its parent's death (PR_SET_PDEATHSIG); without that the worker would
    # ping on for the rest of its 40 s schedule and the agent would never stop.
    assert wait_gone(family, within_s=15) == set(), [cmdline(p) for p in family]
