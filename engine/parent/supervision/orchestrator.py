"""Supervising worker processes: start one per platform, read their frames, stop them.

pyperf's rule: the parent supervises, the worker measures. Each worker is
a ``WorkerProcess`` (``python -m engine.worker``, its pipe passed
explicitly), so a worker never re-runs the console script or imports the
parent's side. A worker that dies is reported
with its exit code and what it sent so far is kept; one that hangs past its
deadline is killed; Ctrl-C (or SIGTERM/SIGHUP to the runner) stops every
worker with SIGTERM, which makes it flush and say Done before exiting.

With a sink, each Samples frame is also offered to it as it arrives; the
sink's own thread does the writing, so this (pipe-reading) thread only
enqueues (docs/ARCHITECTURE.md: no database I/O on the thread that reads the pipes).
With ``--stream``, each frame's lines are written as it is taken in (engine/parent/sinks/stream.py).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.sinks import SeriesInfo, SinkConfig, disabled_report
from engine.parent.sinks.stream import StreamWriter
from engine.parent.supervision.worker_process import WorkerProcess
from ipc.frames import Event, Samples
from ipc.pipe import read_frames
from ipc.spec import WorkerSpec

log = logging.getLogger(__name__)

#: After a stop request, how long workers get to flush and exit before being killed.
STOP_GRACE_S = 5.0
#: Beyond its expected duration, how long a worker may run before it counts as hung.
HANG_SLACK_S = 30.0

Progress = Callable[[dict[str, PlatformRun]], None]


class Orchestrator:
    """Runs a set of ``WorkerSpec`` concurrently, each on its started ``WorkerProcess``, and gathers a
    ``PlatformRun`` for each."""

    def __init__(
        self,
        specs: list[WorkerSpec],
        workers: dict[str, WorkerProcess],
        progress: Progress | None = None,
        sink: SinkConfig | None = None,
        series: dict[str, SeriesInfo] | None = None,
        verbose: bool = False,
        stream: StreamWriter | None = None,
    ) -> None:
        self._specs = specs
        self._workers = workers
        self._progress = progress or (lambda runs: None)
        self.runs = {spec.platform: PlatformRun(spec.platform) for spec in specs}
        self.interrupted = False
        self._procs: dict[Connection, tuple[subprocess.Popen[bytes], PlatformRun]] = {}
        self._sink_plan = (sink, series or {}, verbose) if sink else None
        self._sink = None
        self._stream = stream

    def run(self) -> dict[str, PlatformRun]:
        if self._sink_plan:
            from engine.parent.sinks.writer import InfluxSink  # lazily: it loads influxdb3-python and pyarrow

            config, series, verbose = self._sink_plan
            self._sink = InfluxSink(config, self._specs[0].run_id, series, verbose)
        for spec in self._specs:
            worker = self._workers[spec.platform]
            worker.send(spec)
            self._procs[worker.conn] = (worker.proc, self.runs[spec.platform])
        deadline = time.monotonic() + max(_expected_s(s) for s in self._specs) + HANG_SLACK_S
        try:
            self._read_until_all_done(deadline)
        except KeyboardInterrupt:
            self.interrupted = True
            self._stop_all()
        finally:
            self._kill_all("stopped")
        return self.runs

    def _read_until_all_done(self, deadline: float) -> None:
        while self._procs:
            self._read_once()
            self._progress(self.runs)
            if time.monotonic() > deadline:
                self._kill_all("hung past its expected duration and was killed")

    def _stop_all(self) -> None:
        """Ask every worker to stop (SIGTERM: flush, send Done), then read until they exit."""
        for proc, _ in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        while self._procs and time.monotonic() < deadline:
            try:
                self._read_once()
            except KeyboardInterrupt:
                break  # a second Ctrl-C: stop waiting, keep what arrived

    def _read_once(self) -> None:
        """Hand every frame ready within 0.1 s to its platform; reap workers at end of file."""
        for conn, frame in read_frames(list(self._procs), 0.1):
            if frame is None:
                self._reap(conn)
            else:
                run = self._procs[conn][1]
                run.add(frame)
                if self._stream is not None:
                    self._stream.offer(run, frame)
                if self._sink is not None and isinstance(frame, Samples) and run.hello is not None:
                    self._sink.offer(run.platform, run.hello, frame)

    def sink_report(self) -> dict[str, Any]:
        """What became of every point so far, for ``metadata.sink`` before the sink is drained."""
        return self._sink.report() if self._sink is not None else disabled_report()

    def close_sink(self, statistics: dict[str, dict[str, Any]], end_time: float) -> dict[str, Any]:
        """Write the run summaries and drain the sink (Ctrl-C: spool the rest at once); the final report."""
        return self._sink.close(statistics, end_time) if self._sink is not None else disabled_report()

    def _reap(self, conn: Connection) -> None:
        proc, run = self._procs.pop(conn)
        conn.close()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        run.exit_code = proc.returncode
        if run.done is None and run.fatal_error is None:
            run.events.append(
                Event("error", f"{run.platform}: worker exited with code {proc.returncode} before finishing", fatal=True)
            )

    def _kill_all(self, why: str) -> None:
        for conn in list(self._procs):
            proc, run = self._procs[conn]
            if proc.poll() is None:
                proc.kill()
                run.events.append(Event("error", f"{run.platform}: worker {why}", fatal=True))
            self._reap(conn)


def _expected_s(spec: WorkerSpec) -> float:
    pings = spec.warmup + spec.iterations
    return spec.connect_timeout_s + pings * spec.interval_ns / 1e9 + spec.timeout_ns / 1e9
