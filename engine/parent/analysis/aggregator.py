"""Parent-side collection of one run: per platform, raw columns plus HDR histograms.

Raw columns keep exact min/max/mean/std and the per-sample output; HDR
histograms (µs, 1 µs–60 s, 3 significant digits) give percentiles that cost
the same whatever the sample count. The columns are what a million samples
cost in the parent, so they hold nothing derivable: the agent's send instant
is t2 + processing (exact for agents that stamp both), and seq fits 32 bits.
44 bytes a sample.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

from engine.parent.analysis.hdr import new_histogram, record_ns
from engine.parent.analysis.intervals import Interval, per_second
from engine.parent.analysis.plausibility import impossible_processing
from ipc.frames import KERNEL_T1, KERNEL_T2, KERNEL_T3, KERNEL_T4, Done, Event, Hello, Lost, Samples, TransportRtt

#: Stored column -> array typecode; every other Samples field is derived from these.
_COLUMNS = {"seq": "i", "due": "q", "t1": "q", "t4": "q", "t2": "q", "processing_ns": "q"}
_DTYPES = {"i": np.int32, "q": np.int64}
#: Stamp name -> its bit in ``Samples.kernel``.
KERNEL_BITS = {"t1": KERNEL_T1, "t2": KERNEL_T2, "t3": KERNEL_T3, "t4": KERNEL_T4}
#: What one received sample costs in the raw columns.
BYTES_PER_SAMPLE = sum(array(t).itemsize for t in _COLUMNS.values())


@dataclass
class PlatformRun:
    """Everything the parent learned from one worker."""

    platform: str
    hello: Hello | None = None
    done: Done | None = None
    events: list[Event] = field(default_factory=list)
    columns: dict[str, array] = field(default_factory=lambda: {c: array(t) for c, t in _COLUMNS.items()})
    lost: dict[str, array] = field(default_factory=lambda: {c: array("q") for c in ("seq", "due", "t1")})
    rtt_hist: HdrHistogram = field(default_factory=new_histogram)
    network_hist: HdrHistogram = field(default_factory=new_histogram)
    send_lag_hist: HdrHistogram = field(default_factory=new_histogram)
    #: user t4 - kernel t4 in ns, for the samples whose t4 the kernel stamped.
    stack_hist: HdrHistogram = field(default_factory=lambda: new_histogram(unit_ns=1))
    #: Per stamp, how many received samples carry the kernel's.
    kernel_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KERNEL_BITS, 0))
    out_of_range: int = 0
    exit_code: int | None = None
    #: The stack's own RTT as the worker read it (None: a stack without one, or a worker that never said).
    transport_rtt: TransportRtt | None = None

    def add(self, frame: object) -> None:
        if isinstance(frame, Samples):
            self._add_samples(frame)
        elif isinstance(frame, Lost):
            for name in self.lost:
                self.lost[name].extend(getattr(frame, name))
        elif isinstance(frame, Hello):
            self.hello = frame
        elif isinstance(frame, Event):
            self.events.append(frame)
        elif isinstance(frame, Done):
            self.done = frame
        elif isinstance(frame, TransportRtt):
            self.transport_rtt = frame

    def _add_samples(self, s: Samples) -> None:
        for name in _COLUMNS:
            self.columns[name].extend(getattr(s, name))
        t1 = np.array(s.t1, dtype=np.int64)
        rtt = np.array(s.t4, dtype=np.int64) - t1
        self.out_of_range += record_ns(self.rtt_hist, rtt)
        processing = np.array(s.processing_ns, dtype=np.int64)
        network = rtt - processing
        # Impossible agent stamps never become a network RTT (engine/parent/analysis/plausibility.py).
        self.out_of_range += record_ns(self.network_hist, network[~impossible_processing(processing, network)])
        self.out_of_range += record_ns(self.send_lag_hist, np.maximum(t1 - np.array(s.due, dtype=np.int64), 0))
        if s.kernel:
            kernel = np.array(s.kernel, dtype=np.int64)
            for name, bit in KERNEL_BITS.items():
                self.kernel_counts[name] += int(np.count_nonzero(kernel & bit))
            t4k = (kernel & KERNEL_T4) != 0
            stack = np.array(s.t4_user, dtype=np.int64)[t4k] - np.array(s.t4, dtype=np.int64)[t4k]
            self.out_of_range += record_ns(self.stack_hist, stack, unit_ns=1)

    def timestamp_source(self) -> dict[str, str]:
        """Per stamp: "kernel" when every received sample carries the kernel's, "user" when none does."""
        received = self.received
        return {
            name: "kernel" if received and n == received else "user" if n == 0 else f"kernel for {n} of {received}"
            for name, n in self.kernel_counts.items()
        }

    @property
    def received(self) -> int:
        return len(self.columns["seq"])

    @property
    def lost_count(self) -> int:
        return len(self.lost["seq"])

    @property
    def fatal_error(self) -> str | None:
        return next((e.detail for e in self.events if e.fatal), None)

    @property
    def warnings(self) -> list[str]:
        """What the worker's transport reported mid-run, e.g. the echo participant leaving."""
        return [e.detail for e in self.events if e.kind == "warning"]

    @property
    def connect_ms(self) -> float | None:
        return next((e.value for e in self.events if e.kind == "connected"), None)

    @property
    def partial(self) -> bool:
        return self.done is None or self.done.partial

    def arrays(self) -> dict[str, np.ndarray]:
        """Columns as int64 arrays sorted by seq (pongs may arrive out of order); views of the columns when already sorted."""
        cols = {
            name: np.frombuffer(col, dtype=_DTYPES[col.typecode]) if len(col) else np.zeros(0, _DTYPES[col.typecode])
            for name, col in self.columns.items()
        }
        seq = cols["seq"]
        if len(seq) < 2 or bool((seq[1:] > seq[:-1]).all()):
            return cols  # already in order, the usual case: views, no copy of every column
        order = np.argsort(seq, kind="stable")
        return {name: col[order] for name, col in cols.items()}

    def interval_histograms(self) -> list[Interval]:
        """RTT histograms per wall-clock second of arrival (for ``--hlog``), cut from the columns."""
        if self.hello is None or not self.received:
            return []
        a = self.arrays()
        return per_second(a["t4"] + (self.hello.anchor_wall_ns - self.hello.anchor_perf_ns), a["t4"] - a["t1"])
