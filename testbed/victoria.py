"""A real VictoriaMetrics server on 127.0.0.1 for the sink tests, and reading points back from it.

VictoriaMetrics takes InfluxDB line protocol at ``/api/v2/write`` and stores
each field as a series ``{measurement}_{field}`` with the tags as labels, in
ms. ``-search.latencyOffset=0`` plus ``/internal/force_flush`` make
just-written points readable; reads still poll briefly (bounded) because
the flush finishes a moment after the call returns.

InfluxDB keeps one point per series and instant: writing an identical point
again overwrites it, which is what makes the sink's delivery exactly once
there (a timed-out request may still have been applied, and its batch is then
spooled and replayed). VictoriaMetrics stores every copy, so
``export(..., as_influxdb=True)`` collapses identical (instant, value) copies
within a series the same way. Its timestamps are milliseconds, so that is
exact only for ``message_number``, whose values differ between distinct
pings; a float field of two pings in the same millisecond can coincide.
``-dedup.minScrapeInterval`` is no stand-in either: it merges distinct
points that share a millisecond.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARY = "victoria-metrics"
INSTALL_HINT = "install it with `apt-get install victoria-metrics` (Debian/Ubuntu), as .ci/run does"
START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary() -> str:
    """The binary, or a skip saying how to get it; in CI (CI=true) its absence fails instead."""
    path = shutil.which(BINARY)
    if path is None:
        message = f"{BINARY} not found: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class VictoriaMetrics:
    """One server process over one data folder; stop and start again keep the data."""

    def __init__(self, binary: str, data: Path, log: Path) -> None:
        self.binary, self.data, self.log = binary, data, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"-storageDataPath={self.data}",
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    "-search.latencyOffset=0",
                    "-retentionPeriod=100y",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"victoria-metrics did not answer /health within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): it flushes what it acknowledged, as a server that goes away cleanly does."""
        if self.proc and self.proc.poll() is None:
            self.resume()  # a paused server would not act on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: a stalled server; the kernel still accepts connections and queues the requests."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def export(self, match: str, as_influxdb: bool = False) -> dict[str, list[dict]]:
        """``{series name: [{"labels", "values", "timestamps"}, ...]}`` for a series selector, after a flush;
        ``as_influxdb``: identical copies of a point collapsed into one, as InfluxDB stores them."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()
        body = urllib.parse.urlencode({"match[]": match}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/export", data=body, timeout=10) as r:
            out: dict[str, list[dict]] = defaultdict(list)
            for line in r.read().splitlines():
                row = json.loads(line)
                labels = dict(row["metric"])
                pairs = list(zip(row["timestamps"], row["values"]))
                if as_influxdb:
                    pairs = list(dict.fromkeys(pairs))
                out[labels.pop("__name__")].append(
                    {"labels": labels, "values": [v for _, v in pairs], "timestamps": [t for t, _ in pairs]}
                )
            return dict(out)

    def wait_for(
        self, match: str, name: str, count: int, timeout_s: float = 10.0, as_influxdb: bool = False
    ) -> dict[str, list[dict]]:
        """Export until series ``name`` holds at least ``count`` points (bounded), then return it all."""
        deadline = time.monotonic() + timeout_s
        while True:
            series = self.export(match, as_influxdb)
            if sum(len(s["values"]) for s in series.get(name, [])) >= count or time.monotonic() > deadline:
                return series
            time.sleep(0.1)


@contextlib.contextmanager
def running(folder: Path) -> Iterator[VictoriaMetrics]:
    """A fresh server on a free port; stopped (killed if need be) whatever happens inside."""
    vm = VictoriaMetrics(find_binary(), folder / "vm-data", folder / "vm.log")
    try:
        vm.start()
        yield vm
    finally:
        vm.stop()
