"""Performance regression suite: ``uv run python -m perf [--quick] [--check] [--json PATH]``.

Not a pytest timed test: it runs real servers side by side, prints a table and
writes a JSON report; ``--check`` compares its ratios with ``perf/baseline.json``.
See ``perf/__main__.py`` for the flags and exit codes.
"""

import shutil


class PerfError(Exception):
    """A benchmark could not produce numbers (tool missing, server failed, no replies)."""


def find_tool(exe: str, hint: str) -> str:
    """The path of an external reference tool (sockperf, irtt); ``hint`` says how to get it."""
    path = shutil.which(exe)
    if path is None:
        raise PerfError(f"{exe} not found: {hint}")
    return path
