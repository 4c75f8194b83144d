"""A ``--stream`` file read back as a result, whole or cut off mid-run.

The lines are put back into the columns a worker would have sent (their
instants are wall-clock ns already, so the clock anchor is the identity) and
go through the same ``builder.platform_result`` a run's file comes from: the
per-ping rows, lost pings, percentiles and θ̂ come out as the run's own. A
stream that reached its end line takes its statistics, metadata and
histograms from there, exactly as the run wrote them; one cut off before it
(SIGKILL, a full disk) is marked partial, and its statistics are rebuilt from
the lines it holds (without what only the worker's last frame says: send
counts, CPU time, the stack delay).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field

import msgspec

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.results import builder
from engine.parent.results.compare import compare
from engine.parent.results.model import MultiResult, Result, ResultFormatError
from engine.parent.results.stream_lines import (
    LINE_PREFIX,
    STREAM_VERSION,
    Duplicate,
    End,
    Header,
    Late,
    Lost,
    Pong,
    decode,
)
from engine.parent.settings import PlatformContext, RunSettings
from ipc.frames import Done, Hello, Samples
from ipc.frames import Lost as LostFrame

#: Said in a cut-off stream's warnings, and by ``report``/``compare`` when they read one.
CUT_OFF = "read back from a stream cut off before its end line: partial, statistics rebuilt from its ping lines"


def is_stream(data: bytes) -> bool:
    return data.startswith(LINE_PREFIX)


@dataclass
class _Lines:
    """One platform's lines, in stream order."""

    pongs: list[Pong] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)


def load_stream(data: bytes) -> Result:
    """The stream's text back into the result model; ``ResultFormatError`` names the line that is wrong."""
    header, by_platform, end = _read(data)
    settings = RunSettings(**_known(RunSettings, header.settings))
    per_platform = {}
    for platform, raw_ctx in header.platforms.items():
        ctx = PlatformContext(**_known(PlatformContext, raw_ctx))
        ctx.clock_mode = ClockMode(ctx.clock_mode)
        lines = by_platform[platform]
        final = end.platforms.get(platform) if end else None
        run = _platform_run(platform, lines, settings.warmup, final.metadata.partial if final else True)
        last_ns = max((p.t4_ns for p in lines.pongs), default=header.started_ns)
        end_time = final.metadata.end_time if final else round(last_ns / 1e9, 6)
        result = builder.platform_result(run, settings, ctx, header.started_ns / 1e9, end_time)
        if final is not None:  # the run's own numbers, exactly as its file has them
            result.statistics, result.metadata, result.late = final.statistics, final.metadata, final.late
            result.histograms = final.histograms or result.histograms
            ways = {n: way for way, numbers in final.lost_directions.items() for n in numbers}
            for entry in result.lost:
                entry.direction = ways.get(entry.message_number, "unknown")
        else:
            result.metadata.host, result.metadata.engine_version = header.host, header.engine_version
            result.metadata.pings_sent = None  # only the worker's last frame says it
            result.metadata.warnings.append(CUT_OFF)
        per_platform[platform] = result
    if len(per_platform) == 1:
        return next(iter(per_platform.values()))
    if end is not None and end.comparison is not None:
        comparison = end.comparison
    else:
        rtts = {p: r.measurements.column("round_trip_time") for p, r in per_platform.items()}
        comparison = compare(rtts, {p: r.statistics for p, r in per_platform.items()})
    return MultiResult(header.run_id, per_platform, comparison)


def _read(data: bytes) -> tuple[Header, dict[str, _Lines], End | None]:
    """Every whole line; what follows the last newline is a line torn by the writer's end and is left out."""
    lines = data.split(b"\n")[:-1]
    by_platform: dict[str, _Lines] = defaultdict(_Lines)
    header, end = None, None
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if number == 1 and not text.startswith(b'{"type":"header"'):
            raise ResultFormatError("a stream starts with its header line")
        try:
            line = decode(text)
        except msgspec.DecodeError as exc:
            raise ResultFormatError(f"stream line {number}: {exc}") from None
        if isinstance(line, Header):
            if line.v != STREAM_VERSION:
                raise ResultFormatError(f"stream version {line.v} is not one this reader knows ({STREAM_VERSION})")
            header = line
        elif isinstance(line, Pong):
            by_platform[line.platform].pongs.append(line)
        elif isinstance(line, Lost):
            by_platform[line.platform].lost.append(line)
        elif isinstance(line, Late):
            by_platform[line.platform].late.append(line.message_number)
        elif isinstance(line, Duplicate):
            by_platform[line.platform].duplicates.append(line.message_number)
        elif isinstance(line, End):
            end = line
    if header is None:
        raise ResultFormatError("not a whole stream: no header line")
    return header, by_platform, end


def _platform_run(platform: str, lines: _Lines, warmup: int, partial: bool) -> PlatformRun:
    """The frames the worker sent, as far as the lines tell them."""
    run = PlatformRun(platform)
    run.hello = Hello(platform, 0, 0, 0, 0)  # instants are wall ns already: wall - perf = 0
    pongs = lines.pongs
    run.add(
        Samples(
            seq=[p.message_number + warmup for p in pongs],
            due=[p.due_ns for p in pongs],
            t1=[p.t1_ns for p in pongs],
            t4=[p.t4_ns for p in pongs],
            t2=[p.t2_ns or 0 for p in pongs],
            t3=[p.t3_ns or 0 for p in pongs],
            processing_ns=[_processing_ns(p) for p in pongs],
        )
    )
    for p in pongs:
        for name in p.kernel:
            if name in run.kernel_counts:
                run.kernel_counts[name] += 1
    run.add(
        LostFrame(
            seq=[x.message_number + warmup for x in lines.lost],
            due=[x.due_ns for x in lines.lost],
            t1=[x.t1_ns for x in lines.lost],
        )
    )
    counters = {"late": len(lines.late), "duplicate": len(lines.duplicates)}
    run.done = Done(0, counters, partial=partial, late_seqs=[m + warmup for m in lines.late])
    return run


def _processing_ns(p: Pong) -> int:
    """t3 − t2; a legacy agent's stated processing where it gave no instants; −1 (impossible, so left out again)
    where the line had none because the run left it out."""
    if p.t2_ns and p.t3_ns:
        return p.t3_ns - p.t2_ns
    return -1 if p.server_processing is None else round(p.server_processing * 1e6)


def _known(kind: type, values: dict) -> dict:
    """The fields this version's dataclass has (a later stream may carry more)."""
    names = {f.name for f in dataclasses.fields(kind)}
    return {k: v for k, v in values.items() if k in names}
