"""Shared helpers: run the real CLI as a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``benchmark-runner ARGS`` in a fresh process; never inherits a developer's .env or INFLUXDB_* settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ITERATIONS", "TIMEOUT_MS", "COOLDOWN_MS", "LOCATION_ID", "WARMUP", "PAYLOAD_BYTES", "CLOCK_MODE"}
    }
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bench_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean,
        cwd=cwd or ROOT,
    )


@pytest.fixture
def cli(tmp_path):
    """Runs the CLI in an empty folder, so no .env of the checkout leaks in."""
    return lambda *args, **kw: run_cli(*args, cwd=kw.pop("cwd", tmp_path), **kw)
