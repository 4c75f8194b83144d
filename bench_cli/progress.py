"""A progress bar over answered + lost pings of every platform, on stderr."""

from __future__ import annotations

import sys

import click

from engine.aggregator import PlatformRun


class ProgressBar:
    def __init__(self, total: int) -> None:
        self._bar = click.progressbar(length=total, label="pinging", file=sys.stderr, show_pos=True)
        self._shown = 0

    def __enter__(self) -> ProgressBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def update(self, runs: dict[str, PlatformRun]) -> None:
        done = sum(r.received + r.lost_count for r in runs.values())
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done
