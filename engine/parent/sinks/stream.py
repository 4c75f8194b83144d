"""``--stream PATH|-``: every ping's fate as a JSON line while the run goes, for other programs to read.

Fed by the parent from the frames it already receives (never by the worker):
each Samples, Lost or Done frame becomes lines written at once, whole lines
in one ``write`` each time, so a reader sees a frame's pings within the
worker's shipping interval (250 ms at most) and a stream cut off by SIGKILL
ends on a whole line, or on one torn line a reader skips. The per-ping values
are the result file's own: each batch goes through the same
``Measurements.from_stamps`` the file is written with. A write that fails (a
full disk, a reader gone) stops the stream with one warning; the run goes on.
The line schema is ``engine.parent.results.stream_lines`` (docs/stream.md).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.parent.analysis.aggregator import KERNEL_BITS, PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.analysis.plausibility import impossible_processing
from engine.parent.results.measurements import Measurements
from engine.parent.results.model import MultiResult, PlatformResult, Result
from engine.parent.results.stream_lines import STREAM_VERSION, End, Header, PlatformEnd, encode
from engine.parent.settings import PlatformContext, RunSettings
from ipc.frames import Done, Lost, Samples
from ipc.version import version

_INSTANTS = ("due", "t1", "t2", "t3", "t4")


class StreamWriter:
    """Lines to a file, a FIFO or standard output (``-``); ``warn`` gets the one line saying why it stopped."""

    def __init__(self, path: Path | str, warn: Callable[[str], None]) -> None:
        self.path = str(path)
        self._warn = warn
        self._fd: int | None = sys.stdout.fileno() if self.path == "-" else None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._settings: RunSettings | None = None
        self._contexts: dict[str, PlatformContext] = {}
        self.lines = 0

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"

    def header(self, settings: RunSettings, contexts: dict[str, PlatformContext], host: dict[str, Any]) -> None:
        self._settings, self._contexts = settings, contexts
        platforms = {p: dataclasses.asdict(ctx) for p, ctx in contexts.items()}
        line = Header(
            v=STREAM_VERSION,
            run_id=settings.run_id,
            engine_version=version(),
            started_ns=time.time_ns(),
            host=host,
            settings=dataclasses.asdict(settings),
            platforms=platforms,
        )
        self._write([encode(line)])

    def offer(self, run: PlatformRun, frame: object) -> None:
        """The lines one frame settles (call after ``run.add(frame)``, so the run has its Hello)."""
        if self._fd is None or self._settings is None:
            return
        warmup = self._settings.warmup
        if isinstance(frame, Samples) and run.hello is not None and frame.seq:
            self._write(self._pongs(run, frame))
        elif isinstance(frame, Lost) and run.hello is not None:
            shift = run.hello.anchor_wall_ns - run.hello.anchor_perf_ns
            self._write(
                [
                    encode(
                        {
                            "type": "lost",
                            "platform": run.platform,
                            "message_number": s - warmup,
                            "due_ns": d + shift,
                            "t1_ns": t + shift,
                        }
                    )
                    for s, d, t in zip(frame.seq, frame.due, frame.t1)
                ]
            )
        elif isinstance(frame, Done):
            self._write(
                [
                    encode({"type": "late", "platform": run.platform, "message_number": s - warmup})
                    for s in frame.late_seqs
                    if s > warmup
                ]
                + [
                    encode({"type": "duplicate", "platform": run.platform, "message_number": s - warmup})
                    for s in frame.duplicate_seqs
                    if s > warmup
                ]
            )

    def _pongs(self, run: PlatformRun, s: Samples) -> list[bytes]:
        """A batch's rows as the result file derives them, with θ = 0 (one-way left null where θ̂ is still unknown)."""
        assert run.hello is not None and self._settings is not None
        shift = run.hello.anchor_wall_ns - run.hello.anchor_perf_ns
        raw = {
            name: np.array(getattr(s, name), dtype=np.int64)
            for name in ("seq", "due", "t1", "t4", "t2", "processing_ns")
        }
        rtt = raw["t4"] - raw["t1"]
        one_way = self._contexts[run.platform].clock_mode is not ClockMode.ESTIMATE and bool(raw["t2"].all())
        rows = Measurements.from_stamps(
            raw,
            wall_minus_perf=shift,
            theta=0.0,
            one_way=one_way,
            warmup=self._settings.warmup,
            unavailable=impossible_processing(raw["processing_ns"], rtt - raw["processing_ns"]),
        ).rows(0, len(s.seq))
        kernel = s.kernel or [0] * len(s.seq)
        lines = []
        for row, due, t1, t2, t3, t4, bits in zip(rows, s.due, s.t1, s.t2, s.t3, s.t4, kernel):
            del row["timestamp"]  # t1_ns says it in ns
            lines.append(
                encode(
                    {
                        "type": "pong",
                        "platform": run.platform,
                        **row,
                        "due_ns": due + shift,
                        "t1_ns": t1 + shift,
                        "t2_ns": t2 or None,
                        "t3_ns": t3 or None,
                        "t4_ns": t4 + shift,
                        "kernel": [name for name, bit in KERNEL_BITS.items() if bits & bit],
                    }
                )
            )
        return lines

    def end(self, output: Result, per_platform: dict[str, PlatformResult]) -> None:
        """The last line: each platform's statistics and metadata as the result has them."""
        if self._settings is None:
            return
        platforms = {
            p: PlatformEnd(
                statistics=r.statistics,
                metadata=r.metadata,
                late=r.late,
                histograms=r.histograms,
                agent_side_unavailable=_agent_side_unavailable(r),
                lost_directions={
                    way: [x.message_number for x in r.lost if x.direction == way] for way in ("upstream", "downstream")
                },
            )
            for p, r in per_platform.items()
        }
        comparison = output.comparison if isinstance(output, MultiResult) else None
        self._write(
            [encode(End(v=STREAM_VERSION, run_id=self._settings.run_id, platforms=platforms, comparison=comparison))]
        )

    def close(self) -> None:
        if self._fd is not None and not self.to_stdout:
            os.close(self._fd)
        self._fd = None

    def _write(self, lines: list[bytes]) -> None:
        """All of ``lines`` in as few writes as the kernel takes; a failure stops the stream, once."""
        if self._fd is None or not lines:
            return
        data = memoryview(b"".join(lines))
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            self._warn(
                f"--stream {self.path}: [Errno {exc.errno}] {exc.strerror or exc}: the stream stops here, the run goes on"
            )
            self.close()
            return
        self.lines += len(lines)


def _agent_side_unavailable(result: PlatformResult) -> list[int]:
    """Rows whose agent-side values the result leaves out (null server_processing)."""
    if not len(result.measurements):
        return []
    missing = np.isnan(result.measurements.column("server_processing"))
    return result.measurements.column("message_number")[missing].astype(np.int64).tolist()
