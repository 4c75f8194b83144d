"""Results storage: raw samples and run summaries to an InfluxDB-compatible server.

Parent only (DESIGN.md): workers never import this package. Importing it is
cheap; the writer that pulls in influxdb3-python (and with it pyarrow) lives in
``engine.sinks.influx`` and is imported only when a sink is actually opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Overrides the spool folder; the default follows the XDG state convention.
SPOOL_DIR_ENV = "RTC_BENCH_SPOOL_DIR"


def default_spool_dir() -> Path:
    """``$RTC_BENCH_SPOOL_DIR``, else ``$XDG_STATE_HOME/rtc-latency-bench/spool`` (``~/.local/state/...``)."""
    if os.environ.get(SPOOL_DIR_ENV):
        return Path(os.environ[SPOOL_DIR_ENV])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "rtc-latency-bench" / "spool"


@dataclass(frozen=True)
class SinkConfig:
    """Where and how to write; ``token`` is kept out of ``repr`` so it never reaches a log or traceback."""

    url: str
    database: str
    org: str = "default"
    token: str = field(default="", repr=False)
    batch_size: int = 1000
    flush_ms: int = 1000
    timeout_ms: int = 5000
    max_retries: int = 3
    #: Points offered but not yet written or spooled; past this, new points go straight to the spool.
    max_pending: int = 200_000
    spool_dir: Path = field(default_factory=default_spool_dir)

    def redact(self, text: str) -> str:
        """``text`` with the token blanked out: error texts from the HTTP stack are not trusted to omit it."""
        return text.replace(self.token, "***") if self.token else text


@dataclass(frozen=True)
class SeriesInfo:
    """What tags and converts one platform's samples besides the worker's frames."""

    platform: str
    location_id: str
    run_id: str
    warmup: int
    estimate_offset: bool  # clock mode "estimate": one-way values use the running θ̂, else θ = 0


def disabled_report() -> dict:
    """``metadata.sink`` of a run without a sink: the same keys, so readers need no special case."""
    return {"enabled": False, "written": 0, "spooled": 0, "spool_path": None, "error": None}
