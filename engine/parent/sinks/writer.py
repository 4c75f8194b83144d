"""The sink: samples go to the server while the run is going, off the pipe-reading thread.

    pipe reader --offer()--> queue --sink thread--> client batching (its own thread, HTTP, retries)
         |  over budget                 |  server failed                 |  batch failed after retries
         +--------------> spool <-------+--------------------------------+

``offer`` never blocks and never touches the network. The client's
success/error callbacks tell exactly which lines a batch held, so every point
ends up either written or spooled, never both. After the first batch fails for
good the sink stops trying for the rest of the run (later retries are cut
short too) and spools: a server that is down or refusing costs the run
nothing, and ``flush-spool`` delivers the points later.

A request that timed out or lost its connection may still have been applied,
so its batch is not retried but spooled: it then reaches the server at most
twice (once maybe, once from the spool), one point where the store overwrites
identical points, as InfluxDB does. ``abort`` (Ctrl-C while draining) spools
everything not yet confirmed, the batches inside the client included, and
returns at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from typing import Any

import urllib3

from engine.parent.sinks import SeriesInfo, SinkConfig, client, lineproto, spool
from ipc.frames import Hello, Samples

_STOP = object()
#: The client's rx pipeline queues without limit, so the writer hands it at most this many batches at once.
IN_CLIENT_BATCHES = 2
#: How often the sink thread looks at its backlog while nothing arrives.
TICK_S = 0.05


class _Abandoned(Exception):
    """Raised from the retry callback once the sink has given up on the server: no more retries this run."""


class _Series:
    """One platform's encoder; locked because an over-budget spill encodes on the reader thread."""

    def __init__(self, info: SeriesInfo) -> None:
        self.info = info
        self._offset = lineproto.RunningOffset() if info.estimate_offset else None
        self._lock = threading.Lock()

    def lines(self, hello: Hello, frame: Samples) -> list[bytes]:
        with self._lock:
            return lineproto.sample_lines(self.info, hello, frame, self._offset)


class InfluxSink:
    """Opened before the workers start, fed by ``offer``, closed with the run summaries."""

    def __init__(self, config: SinkConfig, run_id: str, series: dict[str, SeriesInfo], verbose: bool = False) -> None:
        spool.check_dir(config.spool_dir)
        self.config = config
        self.spool = spool.Spool(config.spool_dir, run_id)
        self._series = {platform: _Series(info) for platform, info in series.items()}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # offered and not yet written or spooled: the memory budget
        self._in_client: Counter[bytes] = Counter()  # lines handed to the client and not yet confirmed
        self._broken = threading.Event()
        self.written = self.retries = self.lost = 0
        self.error: str | None = None
        self.spool_error: str | None = None
        self._aborted = False
        client.quiet_library(verbose)
        options = client.batching_options(config)
        self._close_s = options.max_close_wait / 1000
        self._client = client.make_client(
            config,
            options,
            success_callback=self._on_success,
            error_callback=self._on_error,
            retry_callback=self._on_retry,
        )
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        self._thread.start()

    # --- pipe-reader thread -------------------------------------------------------------

    def offer(self, platform: str, hello: Hello, frame: Samples) -> None:
        """Queue a Samples frame; past the memory budget, spool it here instead (never block the reader)."""
        n = len(frame.seq)
        with self._lock:
            fits = self._pending + n <= self.config.max_pending
            if fits:
                self._pending += n
        if fits:
            self._queue.put_nowait((platform, hello, frame))
        else:
            self._spool(self._series[platform].lines(hello, frame), pending=False)

    def close(self, statistics: dict[str, dict[str, Any]], end_time: float) -> dict[str, Any]:
        """Write one ``run_summary`` per platform, drain, and report what became of every point."""
        summaries = [
            lineproto.summary_line(s.info, statistics[p], round(end_time * 1e9))
            for p, s in self._series.items()
            if p in statistics
        ]
        with self._lock:
            self._pending += len(summaries)
        self._queue.put_nowait(summaries)
        self._queue.put_nowait(_STOP)
        try:
            self._thread.join()
            self._client.close()  # waits for the batches inside the client (at most IN_CLIENT_BATCHES)
        except KeyboardInterrupt:  # Ctrl-C while a stalled server holds the drain: the report says "interrupted"
            return self.abort()
        self._close_spool()
        if self._pending and not self.error:
            self.error = f"{self._pending} points unaccounted for: the client did not finish within {self._close_s:g} s"
        return self.report(complete=True)

    def abort(self) -> dict[str, Any]:
        """Stop waiting for the server: spool every point not confirmed yet and report, without waiting.

        The client's thread may still be in a request; its batch is spooled too (it may also land:
        see the module's docstring) and its later callbacks find nothing left to account for.
        """
        self._aborted = True
        self._fail("interrupted while writing to the server; the rest was spooled")
        self._queue.put_nowait(_STOP)
        self._thread.join(1.0)  # the sink thread spools its backlog at once now that the sink is broken
        with self._lock:
            left, self._in_client = list(self._in_client.elements()), Counter()
        self._spool(left)
        self._close_spool()
        return self.report(complete=True)

    def report(self, complete: bool = False) -> dict[str, Any]:
        """What became of every point so far, for ``metadata.sink``; ``complete`` once the sink is closed."""
        return {
            "complete": complete,
            "interrupted": self._aborted,
            "enabled": True,
            "url": self.config.public_url,
            "database": self.config.database,
            "written": self.written,
            "spooled": self.spool.points,
            "spool_path": str(self.spool.path) if self.spool.points else None,
            "retries": self.retries,
            "unaccounted": self._pending,
            "lost": self.lost,
            "error": self.error,
            "spool_error": self.spool_error,
        }

    # --- sink thread ----------------------------------------------------------------------

    def _run(self) -> None:
        backlog: list[bytes] = []
        deadline = None
        try:
            while deadline is None or (backlog and time.monotonic() < deadline):
                try:
                    item = self._queue.get(timeout=TICK_S)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    deadline = time.monotonic() + self._close_s
                elif isinstance(item, list):
                    backlog.extend(item)
                elif item is not None:
                    platform, hello, frame = item
                    backlog.extend(self._series[platform].lines(hello, frame))
                backlog = self._hand_over(backlog)
        except Exception as exc:  # a bug here must not cost the points: they go to the spool below
            self._fail(f"sink thread failed: {type(exc).__name__}: {exc}")
        self._spool(backlog)  # left after the deadline, or after a failure: never handed to the client
        while True:  # what the thread never reached
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, list):
                self._spool(item)
            elif item is not _STOP:
                platform, hello, frame = item
                self._spool(self._series[platform].lines(hello, frame))

    def _hand_over(self, backlog: list[bytes]) -> list[bytes]:
        """Give the client what fits in its window; everything, to the spool, once the server has failed."""
        if self._broken.is_set():
            self._spool(backlog)
            return []
        room = IN_CLIENT_BATCHES * self.config.batch_size - self._in_client.total()
        if room <= 0 or not backlog:
            return backlog
        give = backlog[:room]
        with self._lock:
            self._in_client.update(give)
        self._client.write(record=give)
        return backlog[room:]

    # --- the client's write thread ------------------------------------------------------

    def _confirmed(self, data: bytes) -> list[bytes]:
        """The lines of a finished batch still awaiting an outcome (none after ``abort`` spooled them)."""
        lines = data.split(b"\n")
        with self._lock:
            if self._aborted:
                return []
            for line in lines:
                self._in_client[line] -= 1
            self._in_client = +self._in_client
        return lines

    def _on_success(self, _conf, data: bytes) -> None:
        n = len(self._confirmed(data))
        with self._lock:
            self.written += n
            self._pending -= n

    def _on_error(self, _conf, data: bytes, exc: BaseException) -> None:
        self._fail(client.describe_error(exc, self.config))
        self._spool(self._confirmed(data))

    def _on_retry(self, _conf, _data: bytes, exc: BaseException) -> None:
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError | urllib3.exceptions.ProtocolError):
            self._fail(f"{client.describe_error(exc, self.config)}; not retried, the server may have applied it")
        if self._broken.is_set():
            raise _Abandoned("the server already failed a batch in this run")
        with self._lock:
            self.retries += 1

    # --- any thread -----------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        with self._lock:
            self.error = self.error or self.config.redact(message)
        self._broken.set()

    def _spool(self, lines: list[bytes], pending: bool = True) -> None:
        n = sum(line.count(b"\n") + 1 for line in lines)
        if not n:
            return
        try:
            self.spool.append(lines)
        except OSError as exc:
            with self._lock:
                self.lost += n
                self.spool_error = self.spool_error or str(exc)
        if pending:
            with self._lock:
                self._pending -= n

    def _close_spool(self) -> None:
        try:
            self.spool.close()
        except OSError as exc:
            with self._lock:
                self.spool_error = self.spool_error or str(exc)
