"""The run's output flags for pipelines: ``--hlog``, ``--summary-only``, ``--quiet``, ``--stream``.

Kept out of the run command's own module: each flag is declared, checked
before the run (bad input is one line, exit 2) and applied after it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from engine.parent.results import hlog, output_file
from engine.parent.results.measurements import Measurements
from engine.parent.results.model import MultiResult, PlatformResult, Result
from engine.parent.sinks.stream import StreamWriter
from ipc.errors import BenchError
from ipc.version import version

if TYPE_CHECKING:
    from engine.parent.supervision.runner import RunOutcome

_OPTIONS = [
    click.option(
        "--hlog",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Also write an HdrHistogram interval log here: RTT (µs) per second, one tag per platform.",
    ),
    click.option(
        "--summary-only",
        is_flag=True,
        help="Leave the per-ping measurements out of --output (statistics, histograms and lost pings stay).",
    ),
    click.option("--quiet", is_flag=True, help="Print nothing but errors: no summary, no progress (the result file keeps the warnings)."),
    click.option(
        "--stream",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
        default=None,
        metavar="PATH|-",
        help="Write every ping's fate as a JSON line while the run goes (docs/stream.md), the statistics last; - = standard output, the summary then goes to standard error.",
    ),
]


def output_options(command: Callable) -> Callable:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


@dataclass(frozen=True)
class OutputPlan:
    hlog: Path | None
    summary_only: bool
    quiet: bool
    stream: Path | None = None

    @classmethod
    def pop(cls, options: dict[str, Any]) -> OutputPlan:
        """Takes these flags out of a command's keyword arguments and checks the log can be written."""
        plan = cls(options.pop("hlog"), options.pop("summary_only"), options.pop("quiet"), options.pop("stream"))
        for flag, path in (("--hlog", plan.hlog), ("--stream", plan.stream)):
            if path is not None:
                try:
                    output_file.check(path)
                except OSError as exc:
                    raise BenchError(str(exc).replace("--output", flag)) from None
        return plan

    def open_stream(self, output: Path | None, warn: Callable[[str], None]) -> StreamWriter | None:
        """The ``--stream`` writer, its file opened (truncated) now: a path that cannot be opened is bad input."""
        if self.stream is None:
            return None
        if output is not None and output_file.is_stdout(output) and output_file.is_stdout(self.stream):
            raise BenchError("--output - and --stream - both want standard output; send one of them to a file")
        try:
            return StreamWriter(self.stream, warn)
        except OSError as exc:
            raise BenchError(f"--stream {self.stream}: [Errno {exc.errno}] {exc.strerror or exc}") from None

    def written(self, outcome: RunOutcome) -> Result:
        """What ``--output`` gets: the result, without per-ping rows when asked."""
        return summary_only(outcome.output) if self.summary_only else outcome.output

    def write_hlog(self, outcome: RunOutcome) -> None:
        if self.hlog is not None:
            intervals = {p: run.interval_histograms() for p, run in outcome.runs.items()}
            hlog.write(self.hlog, intervals, version())


def summary_only(result: Result) -> Result:
    if isinstance(result, MultiResult):
        return msgspec.structs.replace(result, results={p: summary_only(r) for p, r in result.results.items()})
    assert isinstance(result, PlatformResult)
    return msgspec.structs.replace(result, measurements=Measurements({}, 0))
