"""An HdrHistogram interval log (format 1.3) of a run: one tag per platform, one interval per second.

Written by hand rather than with hdrh 0.10.8's ``HistogramLogWriter``: its
``output_start_time`` raises, it writes no ``Tag=`` and it floors each
interval's max to whole units (a floored maximum understates the worst latency). The layout is the Java
``HistogramLogWriter``'s, which hdrh's reader and the Java
``HistogramLogProcessor`` (``-listtags``, ``-tag``) read. Values are µs; the
interval max column is in ms.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from engine.parent.analysis.intervals import Interval
from engine.parent.results import output_file

FORMAT_VERSION = "1.3"


def text(intervals: dict[str, list[Interval]], version: str) -> str:
    """The log: header, StartTime/BaseTime at the first interval's second, then every interval in time order."""
    everything = sorted((i.second, tag, i) for tag, items in intervals.items() for i in items)
    start = everything[0][0] if everything else int(dt.datetime.now(dt.UTC).timestamp())
    iso = dt.datetime.fromtimestamp(start, dt.UTC).isoformat(" ")
    lines = [
        f"#[Logged with rtc-latency-bench {version}; values in µs, interval max in ms]",
        f"#[Histogram log format version {FORMAT_VERSION}]",
        f"#[StartTime: {start:.3f} (seconds since epoch), {iso}]",
        f"#[BaseTime: {start:.3f} (seconds since epoch)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    lines += [f"Tag={tag},{second - start:.3f},1.000,{i.max_us / 1e3:.3f},{i.encoded}" for second, tag, i in everything]
    return "\n".join(lines) + "\n"


def write(path: Path, intervals: dict[str, list[Interval]], version: str) -> None:
    """Atomically, as the result JSON is written."""
    output_file.write(path, [text(intervals, version)])
