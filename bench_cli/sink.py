"""The InfluxDB sink on the command line: its flags (shared by a run and ``flush-spool``) and messages.

Same precedence as every other setting: flag > environment > .env > default.
No URL means no sink. The token is read like any setting and printed nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from engine.parent.sinks import SPOOL_DIR_ENV, SinkConfig, default_spool_dir, spool
from ipc.errors import BenchError

_OPTIONS = [
    click.option(
        "--influxdb-url",
        envvar="INFLUXDB_URL",
        show_envvar=True,
        default="",
        help="Write samples to this InfluxDB-compatible server, e.g. http://127.0.0.1:8181; empty = no sink.",
    ),
    click.option(
        "--influxdb-token",
        envvar="INFLUXDB_TOKEN",
        show_envvar=True,
        default="",
        show_default=False,
        help="API token; never printed.",
    ),
    click.option("--influxdb-org", envvar="INFLUXDB_ORG", show_envvar=True, default="default", help="Organisation."),
    click.option(
        "--influxdb-database",
        envvar="INFLUXDB_DATABASE",
        show_envvar=True,
        default="voice-rtc-benchmarks",
        help="Database / bucket.",
    ),
    click.option(
        "--influxdb-batch-size",
        type=int,
        envvar="INFLUXDB_BATCH_SIZE",
        show_envvar=True,
        default=1000,
        help="Points per write request.",
    ),
    click.option(
        "--influxdb-flush-ms",
        type=int,
        envvar="INFLUXDB_FLUSH_MS",
        show_envvar=True,
        default=1000,
        help="Send a partial batch after this many ms.",
    ),
    click.option(
        "--influxdb-timeout-ms",
        type=int,
        envvar="INFLUXDB_TIMEOUT_MS",
        show_envvar=True,
        default=5000,
        help="Per-request timeout in ms.",
    ),
    click.option(
        "--influxdb-max-retries",
        type=int,
        envvar="INFLUXDB_MAX_RETRIES",
        show_envvar=True,
        default=3,
        help="Retries of a failed batch before it is spooled.",
    ),
    click.option(
        "--spool-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=SPOOL_DIR_ENV,
        show_envvar=True,
        default=None,
        help="Where points the server did not take are kept (default ~/.local/state/rtc-latency-bench/spool).",
    ),
]


def influx_options(command: Callable) -> Callable:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def sink_config(options: dict[str, Any]) -> SinkConfig | None:
    """Pops the sink's flags from a command's keyword arguments; None when no URL is set. Bad values raise BenchError."""
    url = options.pop("influxdb_url").strip()
    values = {
        name: options.pop(f"influxdb_{name}")
        for name in ("token", "org", "database", "batch_size", "flush_ms", "timeout_ms", "max_retries")
    }
    folder = options.pop("spool_dir") or default_spool_dir()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.username or parsed.password:  # the client would send no such credentials: refuse, never ignore
        raise BenchError("--influxdb-url must not carry user:password@; put the credential in INFLUXDB_TOKEN")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise BenchError(f"--influxdb-url must be an http:// or https:// URL with a host, got {url!r}")
    for name, least in (("batch_size", 1), ("flush_ms", 1), ("timeout_ms", 1), ("max_retries", 0)):
        if values[name] < least:
            raise BenchError(f"--influxdb-{name.replace('_', '-')} must be at least {least}, got {values[name]}")
    if not values["database"]:
        raise BenchError("--influxdb-database must not be empty")
    try:
        spool.check_dir(folder)
    except OSError as exc:
        raise BenchError(f"--spool-dir: {exc}") from None
    return SinkConfig(url=url, spool_dir=folder, **values)


def report_lines(report: dict[str, Any]) -> list[str]:
    """What the run's sink did, for stderr: written count, and where the spooled points are."""
    if not report.get("enabled"):
        return []
    lines = [f"sink: {report['written']} points written to {report['url']} (database {report['database']})"]
    if report["error"]:
        lines.append(f"sink: error: {report['error']}")
    if report.get("spool_error"):
        lines.append(f"sink: error: {report['lost']} points lost: {report['spool_error']}")
    if report["spooled"]:
        lines.append(
            f"sink: {report['spooled']} points spooled to {report['spool_path']}; "
            "replay them with `benchmark-runner flush-spool`"
        )
    return lines
