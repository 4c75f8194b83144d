"""The worker a user's run starts is its own lean program, not a second copy of the runner.

The run goes through the installed ``benchmark-runner`` script (spawn would
re-run it in the child). A ``sitecustomize`` on the test's PYTHONPATH makes
every process of the run write down its imported modules at exit; the live
worker's memory map is read while it pings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import cli_env
from tests.processes import BENCHMARK_RUNNER, Watched, cmdline, descendants

#: Written into the test's own folder: each process dumps argv and sys.modules when it exits.
SITECUSTOMIZE = """
import atexit, json, os, sys
def _dump():
    with open(os.path.join({folder!r}, f"modules-{{os.getpid()}}.json"), "w") as f:
        json.dump({{"argv": sys.argv, "modules": sorted(sys.modules)}}, f)
atexit.register(_dump)
"""

#: Never in a worker: the parent's side, the CLI, the sinks' stack, the agent, and what only they use.
FORBIDDEN = ("engine.parent", "bench_cli", "click", "numpy", "hdrh", "influxdb_client_3", "pyarrow", "agent", "aiohttp")


def test_a_udp_worker_and_its_agent_load_only_what_they_work_with(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE.format(folder=str(hooks)))
    env = cli_env({"PYTHONPATH": str(hooks)})
    run = Watched(
        [BENCHMARK_RUNNER, "--platform", "udp", "--iterations", "300", "--cooldown", "10"], cwd=tmp_path, env=env
    )
    run.wait_for("pinging", within_s=60)
    (worker,) = [pid for pid in descendants(run.proc.pid) if "engine.worker" in cmdline(pid)]
    assert cmdline(worker).split()[:3] == [sys.executable, "-m", "engine.worker"]
    maps = Path(f"/proc/{worker}/maps").read_text()
    code, _, stderr = run.finish(within_s=60)
    assert code == 0, stderr

    for shared_object in ("_multiarray_umath", "libarrow", "pyarrow", "_http_parser"):
        assert shared_object not in maps
    dumps = [json.loads(p.read_text()) for p in hooks.glob("modules-*.json")]
    (worker_modules,) = [d["modules"] for d in dumps if d["argv"][0].endswith("engine/worker/__main__.py")]
    loaded = [m for m in worker_modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert loaded == []
    assert "transports.udp" in worker_modules and "engine.worker.session" in worker_modules
    # The embedded echo agent takes the wire protocol and the boot id from the ground floor: nothing of engine, no numpy.
    (agent_modules,) = [d["modules"] for d in dumps if d["argv"][0].endswith("agent/__main__.py")]
    assert [m for m in agent_modules if m == "engine" or m.startswith("engine.")] == []
    assert "ipc.protocol" in agent_modules and "ipc.clocks.anchors" in agent_modules
    assert not [m for m in agent_modules if m.split(".")[0] in ("numpy", "hdrh", "bench_cli", "pyarrow")]
    # The runner itself, for contrast: the same check there finds the parent's side (the test can fail).
    (runner_modules,) = [d["modules"] for d in dumps if d["argv"][0] == BENCHMARK_RUNNER]
    assert "engine.parent.analysis.aggregator" in runner_modules and "numpy" in runner_modules
