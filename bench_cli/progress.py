"""Progress over answered + lost pings of every platform, on stderr.

On a terminal, the live table (``bench_cli.live_table``: a row per platform
with its counts and RTT percentiles, redrawn once a second); otherwise (a CI
log, a pipe) one line every few seconds, since anything redrawn in place is
noise in a log. Either appears with the first measured ping, so errors before
the run stay one line.
"""

from __future__ import annotations

import sys
import time

import click

from bench_cli.live_table import LiveTable
from engine.parent.analysis.aggregator import PlatformRun

#: Seconds between progress lines when stderr is not a terminal.
LINE_EVERY_S = 5.0


class ProgressBar:
    def __init__(self, total: int, enabled: bool = True, tty: bool | None = None) -> None:
        self._total = total
        self._enabled = enabled
        self._tty = sys.stderr.isatty() if tty is None else tty
        self._table: LiveTable | None = None
        self._started = time.monotonic()
        self._next_line = self._started + LINE_EVERY_S
        self._last: dict[str, PlatformRun] = {}

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._table is not None:
            self._table.stop(self._last)
        elif self._enabled and not self._tty and self._last:
            self._line(self._last)  # where the run ended

    def update(self, runs: dict[str, PlatformRun]) -> None:
        done = sum(r.received + r.lost_count for r in runs.values())
        if not self._enabled or not done:
            return
        if not self._tty:
            if not self._last:
                self._line(runs, "pinging")  # the first measured ping: the run is under way
            self._last = runs
            if time.monotonic() >= self._next_line:
                self._line(runs)
            return
        if self._table is None:
            self._table = LiveTable(self._total)
        self._last = runs
        self._table.update(runs)

    def _line(self, runs: dict[str, PlatformRun], what: str = "progress") -> None:
        done = sum(r.received + r.lost_count for r in runs.values())
        each = ", ".join(f"{p} {r.received} answered {r.lost_count} lost" for p, r in runs.items())
        elapsed = time.monotonic() - self._started
        share = f" ({done / self._total:.0%})" if self._total else ""
        click.echo(f"{what}: {done}/{self._total} pings{share} after {elapsed:.0f} s: {each}", err=True)
        self._next_line = time.monotonic() + LINE_EVERY_S
