"""Result files as the report and compare commands read them: loaded, then grouped and merged.

A group is every result of one platform (and, for the report, one location
and day). Its percentiles come from its runs' histograms added together,
never from averaged percentiles; files written before results carried
histograms get theirs rebuilt from the per-ping measurements. A ``--stream``
file is read as the result it streamed (``stream_file``), cut off or not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

from engine.parent.reports import stream_file
from engine.parent.results import histograms
from engine.parent.results.measurements import Measurements
from engine.parent.results.model import PlatformResult, Result, ResultFormatError, load, platform_results
from ipc.errors import BenchError

#: The per-ping columns the report and the comparison read.
KEPT_COLUMNS = ("round_trip_time", "timestamp")
#: Measurement columns a histogram kind can be rebuilt from (ms).
_COLUMN_OF = {
    "rtt": "round_trip_time",
    "network_rtt": "network_rtt",
    "client_to_server": "client_to_server",
    "server_to_client": "server_to_client",
    "send_lag": "send_lag",
}


#: What a folder's result files are named: result files, and --stream files.
PATTERNS = ("*.json", "*.ndjson")


def result_files(paths: Iterable[Path]) -> list[Path]:
    """Each FILE as given, each DIR's ``*.json`` and ``*.ndjson`` files in name order; a path that is neither is bad input."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(f for pattern in PATTERNS for f in path.glob(pattern))
            if not found:
                raise BenchError(f"{path}: no .json or .ndjson result files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise BenchError(f"{path}: no such file or folder")
    return files


def load_results(paths: Iterable[Path]) -> list[tuple[Path, PlatformResult]]:
    """Every platform result in the files, with the file it came from; an unreadable file is one error line.

    Each result keeps only the per-ping columns the analyses read, as float arrays (a loaded file's rows are
    Python objects: ~250 MB for ten files of 100k pings otherwise); files older than histograms get theirs here.
    """
    out = []
    for path in result_files(paths):
        for r in platform_results(read_result(path)).values():
            if r.histograms is None:
                r.histograms = _rebuilt_histograms(r)
            r.measurements = _slim(r.measurements)
            out.append((path, r))
    return out


def read_result(path: Path) -> Result:
    """A result file or a stream file; an unreadable one is one error line."""
    try:
        data = path.read_bytes()
        return stream_file.load_stream(data) if stream_file.is_stream(data) else load(data)
    except (OSError, ResultFormatError) as exc:
        raise BenchError(f"{path}: {exc}") from None


def partial_notes(loaded: Iterable[tuple[Path, PlatformResult]]) -> list[str]:
    """One line per partial result, saying why where the file says it: report and compare show what they read."""
    notes = []
    for path, r in loaded:
        if r.metadata.partial:
            why = (
                "a stream cut off before its end line"
                if stream_file.CUT_OFF in r.metadata.warnings
                else "the run was stopped or failed"
            )
            notes.append(f"{path}: {r.platform} is partial ({why})")
    return notes


def _rebuilt_histograms(result: PlatformResult) -> histograms.Histograms:
    encoded = {}
    for kind, column in _COLUMN_OF.items():
        values = result.measurements.column(column) if len(result.measurements) else np.zeros(0)
        values = values[np.isfinite(values)]
        encoded[kind] = histograms.encode(histograms.from_ns(np.round(values * 1e6))) if len(values) else None
    return histograms.Histograms(**encoded)


def _slim(measurements: Measurements) -> Measurements:
    columns = {name: measurements.column(name) for name in KEPT_COLUMNS} if len(measurements) else {}
    return Measurements({name: (lambda a, b, c=c: c[a:b], 1.0) for name, c in columns.items()}, len(measurements))


def day_of(result: PlatformResult) -> str:
    return dt.datetime.fromtimestamp(result.metadata.start_time, dt.UTC).strftime("%Y-%m-%d")


@dataclass
class Group:
    """Several runs of one platform taken as one sample: histograms added, measurements concatenated."""

    platform: str
    location: str = ""
    day: str = ""
    results: list[PlatformResult] = field(default_factory=list)

    @property
    def label(self) -> str:
        return " / ".join(part for part in (self.platform, self.location, self.day) if part)

    @property
    def total(self) -> int:
        return sum(r.statistics.total_messages for r in self.results)

    @property
    def lost(self) -> int:
        return sum(r.statistics.failed_messages for r in self.results)

    @property
    def loss_rate(self) -> float:
        return self.lost / self.total if self.total else 0.0

    @property
    def late(self) -> int:
        return sum(r.statistics.late_messages for r in self.results)

    def histogram(self, kind: str) -> HdrHistogram:
        return histograms.merged_kind((r.histograms for r in self.results), kind)

    def percentile_ms(self, kind: str, percentile: float) -> float | None:
        hist = self.histogram(kind)
        return hist.get_value_at_percentile(percentile) / 1e3 if hist.get_total_count() else None

    @cached_property
    def rtts_ms(self) -> np.ndarray:
        """Every run's per-ping RTTs in order (empty when the files were written with --summary-only)."""
        parts = [r.measurements.column("round_trip_time") for r in self.results if len(r.measurements)]
        return np.concatenate(parts) if parts else np.zeros(0)


def grouped(results: Iterable[PlatformResult], key: Callable[[PlatformResult], tuple[str, ...]]) -> list[Group]:
    """Results grouped by ``key`` (platform first, then e.g. location and day), in key order."""
    groups: dict[tuple[str, ...], Group] = {}
    for r in results:
        k = key(r)
        groups.setdefault(k, Group(*k)).results.append(r)
    return [groups[k] for k in sorted(groups)]
