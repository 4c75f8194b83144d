"""Results storage: raw samples and run summaries to an InfluxDB-compatible server.

Parent only (docs/ARCHITECTURE.md): workers never import this package. Importing it is
cheap; the writer and client that pull in influxdb3-python (and with it
pyarrow) live in ``engine.parent.sinks.writer`` and ``engine.parent.sinks.client`` and are
imported only when a sink is actually opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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
        """``text`` with the token (and a password in the URL) blanked out: error texts from the HTTP
        stack are not trusted to omit them."""
        for secret in (self.token, urlsplit(self.url).password):
            if secret:
                text = text.replace(secret, "***")
        return text

    @property
    def public_url(self) -> str:
        """The URL without any ``user:password@``, for messages and result files."""
        parts = urlsplit(self.url)
        if not (parts.username or parts.password):
            return self.url
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=host))


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
