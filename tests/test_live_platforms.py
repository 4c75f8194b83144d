"""A 20-ping benchmark against the real Daily and LiveKit, run only with real credentials.

Each test starts ``echo-agent`` for its platform (the credentials come from
the environment), points ``benchmark-runner`` at it and checks the original's
result JSON. Without the variables they are skipped, and the reason names
what is missing. Nothing secret (API key, secret, a join token) may appear
in either process's output.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.agent_http import AgentProcess
from tests.conftest import run_cli
from tests.test_cli_e2e import assert_seed_shape

ITERATIONS = 20
NEEDS = {"daily": ("DAILY_API_KEY",), "livekit": ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")}
SECRETS = ("DAILY_API_KEY", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # any JWT, e.g. a LiveKit join token


def missing(platform: str) -> list[str]:
    return [name for name in NEEDS[platform] if not os.environ.get(name, "").strip()]


def live(platform: str):
    absent = missing(platform)
    return pytest.mark.skipif(bool(absent), reason=f"live {platform} test needs {', '.join(absent)} in the environment")


def assert_nothing_secret(text: str) -> None:
    for name in SECRETS:
        value = os.environ.get(name, "").strip()
        if len(value) >= 6:
            assert value not in text, f"the value of {name} was printed"
    assert not JWT.search(text), "a token was printed"


@pytest.mark.parametrize("platform", [pytest.param(p, marks=live(p)) for p in ("daily", "livekit")])
def test_twenty_pings_against_the_real_platform(platform, tmp_path):
    with AgentProcess(platform, os.environ.copy(), tmp_path) as agent:
        out = tmp_path / "out.json"
        proc = run_cli(
            "--platform",
            platform,
            "--agent-url",
            agent.url,
            "--iterations",
            str(ITERATIONS),
            "--cooldown",
            "50",
            "--output",
            str(out),
            cwd=tmp_path,
            timeout=180,
        )
    assert proc.returncode == 0, proc.stderr
    assert agent.returncode == 0, agent.output
    result = json.loads(out.read_text())
    assert_seed_shape(result, platform, ITERATIONS)
    assert result["statistics"]["total_messages"] == ITERATIONS
    assert len(result["measurements"]) == result["statistics"]["successful_messages"] == ITERATIONS
    assert_nothing_secret(proc.stdout + proc.stderr + agent.output)
