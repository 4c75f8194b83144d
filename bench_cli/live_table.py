"""The live table on a terminal: one row per platform, redrawn at most once a second while the run goes.

It reads what the parent already holds (each platform's raw columns and
histograms, handed over by the orchestrator's progress callback), so nothing
of it runs in a worker. rich draws it in place (cursor moves instead of
carriage returns, a table that fits the terminal's width); it is used only
when standard error is a terminal (``bench_cli.progress`` decides).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.hdr import new_histogram, record_ns
from engine.parent.analysis.stats import hdr_percentiles_ms

#: At most one redraw per this many seconds.
REDRAW_EVERY_S = 1.0
#: The recent window's length: pongs that arrived within it.
WINDOW_S = 10.0
_PERCENTILES = (50.0, 99.0)
#: Two-line headers keep the table within 80 columns.
_VALUE_HEADERS = (f"p50\n{WINDOW_S:.0f} s", f"p99\n{WINDOW_S:.0f} s", "p50\nrun", "p99\nrun", "send lag\np99")


@dataclass
class _Recent:
    """RTT histograms of the pongs taken in at each redraw, kept for the last ``WINDOW_S``."""

    seen: int = 0
    slices: deque[tuple[float, HdrHistogram]] = field(default_factory=deque)

    def advance(self, run: PlatformRun, now: float) -> dict[float, float | None]:
        """Takes in the pongs since the last redraw and returns p50/p99 (ms) over the window."""
        t1, t4 = (np.frombuffer(run.columns[c], dtype=np.int64)[self.seen :] for c in ("t1", "t4"))
        hist = new_histogram()
        record_ns(hist, t4 - t1)
        self.seen += len(t1)
        self.slices.append((now, hist))
        while self.slices and self.slices[0][0] <= now - WINDOW_S:
            self.slices.popleft()
        window = new_histogram()
        for _, part in self.slices:
            window.add(part)
        return hdr_percentiles_ms(window, _PERCENTILES)


class LiveTable:
    """A rich ``Live`` display on standard error; ``update`` is cheap when no redraw is due."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._started = time.monotonic()
        self._next = 0.0
        self._recent: dict[str, _Recent] = {}
        self._live = Live(
            console=Console(file=sys.stderr), auto_refresh=False, redirect_stdout=False, redirect_stderr=False
        )
        self._live.start()

    def update(self, runs: dict[str, PlatformRun], force: bool = False) -> None:
        now = time.monotonic()
        if now < self._next and not force:
            return
        self._next = now + REDRAW_EVERY_S
        self._live.update(self._table(runs, now), refresh=True)

    def stop(self, runs: dict[str, PlatformRun]) -> None:
        """The last state stays on the screen."""
        self.update(runs, force=True)
        self._live.stop()

    def _table(self, runs: dict[str, PlatformRun], now: float) -> Table:
        done = sum(r.received + r.lost_count for r in runs.values())
        table = Table(
            title=f"{done:,}/{self._total:,} pings after {now - self._started:.0f} s (RTT and send lag in ms)",
            title_justify="left",
            box=box.SIMPLE,
            pad_edge=False,
            collapse_padding=True,
        )
        for name in ("platform", "answered", "lost", *_VALUE_HEADERS, "stamps"):
            table.add_column(name, justify="left" if name in ("platform", "stamps") else "right", no_wrap=True)
        for platform, run in runs.items():
            recent = self._recent.setdefault(platform, _Recent()).advance(run, now)
            whole = hdr_percentiles_ms(run.rtt_hist, _PERCENTILES)
            lag = hdr_percentiles_ms(run.send_lag_hist, (99.0,))[99.0]
            table.add_row(
                platform,
                f"{run.received:,}",
                f"{run.lost_count:,}",
                *(_ms(recent[p]) for p in _PERCENTILES),
                *(_ms(whole[p]) for p in _PERCENTILES),
                _ms(lag),
                stamps(run.timestamp_source()) if run.received else "—",
            )
        return table


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def stamps(sources: dict[str, str]) -> str:
    """``kernel`` or ``user`` when all four agree, else each stamp's source in short."""
    kinds = set(sources.values())
    if len(kinds) == 1:
        return kinds.pop()
    return " ".join(f"{name} {source if source in ('kernel', 'user') else 'mixed'}" for name, source in sources.items())
