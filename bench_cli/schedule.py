"""The run's side-by-side flags: ``--duration`` instead of ``--iterations``, and ``--pin``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from ipc.errors import BenchError

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")

_OPTIONS = [
    click.option(
        "--duration",
        default=None,
        metavar="N[ms|s|m|h]",
        help="Run this long instead of a number of pings, e.g. 10m: iterations = duration ÷ cooldown.",
    ),
    click.option(
        "--pin",
        is_flag=True,
        help="Pin each platform's worker to a core of its own (when there are more cores than workers).",
    ),
]


def schedule_options(command: Callable) -> Callable:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def parse_duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise BenchError(f"--duration must be a positive time such as 90s, 10m or 1.5h, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def pop_schedule(options: dict[str, Any], iterations: int, cooldown_ms: float) -> tuple[int, float | None, bool]:
    """(iterations, duration in s or None, pin) from a command's keyword arguments."""
    text, pin = options.pop("duration"), options.pop("pin")
    if text is None:
        return iterations, None, pin
    source = click.get_current_context().get_parameter_source("iterations")
    if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
        raise BenchError("give --iterations or --duration, not both")
    duration_s = parse_duration(text)
    if cooldown_ms <= 0:
        raise BenchError("--duration needs a --cooldown above 0 (pings = duration ÷ cooldown)")
    return max(1, math.ceil(duration_s * 1e3 / cooldown_ms - 1e-9)), duration_s, pin
