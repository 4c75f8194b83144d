"""Performance regression suite: ``uv run python -m perf [--quick] [--check] [--json PATH]``.

Not a pytest timed test: it runs real servers side by side, prints a table and
writes a JSON report; ``--check`` compares its ratios with ``perf/baseline.json``.
See ``perf/__main__.py`` for the flags and exit codes.
"""


class PerfError(Exception):
    """A benchmark could not produce numbers (tool missing, server failed, no replies)."""
