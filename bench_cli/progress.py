"""A progress bar over answered + lost pings of every platform, on stderr.

It appears with the first measured ping, so errors before the run stay one line.
"""

from __future__ import annotations

import sys

import click

from engine.parent.aggregator import PlatformRun


class ProgressBar:
    def __init__(self, total: int) -> None:
        self._total = total
        self._bar = None
        self._shown = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, runs: dict[str, PlatformRun]) -> None:
        done = sum(r.received + r.lost_count for r in runs.values())
        if done <= self._shown:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=self._total, label="pinging", file=sys.stderr, show_pos=True)
            self._bar.__enter__()
        self._bar.update(done - self._shown)
        self._shown = done
