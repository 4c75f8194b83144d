"""Glue to influxdb3-python: building its client, naming its errors, replaying spools.

The only module that imports ``influxdb_client_3`` (which pulls in pyarrow);
it is imported lazily by the parent when a sink opens, never by a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import urllib3
from influxdb_client_3 import InfluxDBClient3, WriteOptions, WritePrecision, WriteType, write_client_options
from influxdb_client_3.exceptions import InfluxDBError
from reactivex.scheduler import ThreadPoolScheduler

from engine.parent.sinks import SinkConfig, spool

#: The client and its HTTP stack log every retry and failed batch (URL included); the sink reports them
#: once, in its own words.
_LIBRARY_LOGGERS = ("influxdb_client_3", "influxdb_client.client.write.retry", "urllib3.connectionpool")
#: First retry after ~this long, doubling (the client adds jitter), capped at _MAX_RETRY_DELAY_MS.
_RETRY_INTERVAL_MS = 200
_MAX_RETRY_DELAY_MS = 5000

_HINTS = {401: "check INFLUXDB_TOKEN", 403: "check INFLUXDB_TOKEN's permissions", 404: "check INFLUXDB_URL"}


def quiet_library(verbose: bool) -> None:
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)


def batching_options(config: SinkConfig) -> WriteOptions:
    """The client's own batching and retry, sized by the sink's settings."""
    attempt_ms = config.timeout_ms + _MAX_RETRY_DELAY_MS
    return WriteOptions(
        write_type=WriteType.batching,
        batch_size=config.batch_size,
        flush_interval=config.flush_ms,
        retry_interval=_RETRY_INTERVAL_MS,
        max_retries=config.max_retries,
        max_retry_delay=_MAX_RETRY_DELAY_MS,
        max_retry_time=attempt_ms * (config.max_retries + 1),
        # The writer keeps at most two batches inside the client, so closing never has to wait for more.
        max_close_wait=2 * attempt_ms * (config.max_retries + 1) + config.flush_ms,
        write_precision=WritePrecision.NS,
        timeout=config.timeout_ms,
        # Not the shared default instance: each sink gets its own write thread.
        write_scheduler=ThreadPoolScheduler(max_workers=1),
    )


def make_client(config: SinkConfig, options: WriteOptions | None = None, **callbacks: Callable) -> InfluxDBClient3:
    """A client for ``config``; ``options`` None = synchronous writes (replay)."""
    return InfluxDBClient3(
        host=config.url,
        org=config.org,
        database=config.database,
        token=config.token,
        write_timeout=config.timeout_ms,
        write_client_options=write_client_options(
            write_options=options or WriteOptions(write_type=WriteType.synchronous, timeout=config.timeout_ms),
            **callbacks,
        ),
    )


def describe_error(exc: BaseException, config: SinkConfig) -> str:
    """One line a user can act on, with the token blanked out."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    status = getattr(exc, "status", None)
    if isinstance(exc, InfluxDBError) and status:
        reason = getattr(exc, "reason", "") or ""
        message = getattr(exc, "message", "") or ""
        hint = _HINTS.get(status)
        text = f"HTTP {status} {reason}".strip() + (f": {message}" if message and message != reason else "")
        text += f" ({hint})" if hint else ""
    elif isinstance(exc, urllib3.exceptions.NewConnectionError):
        text = "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
    elif isinstance(exc, urllib3.exceptions.TimeoutError):
        text = f"no answer within {config.timeout_ms} ms"
    elif isinstance(exc, urllib3.exceptions.ProtocolError):
        text = f"connection dropped: {exc.args[0] if exc.args else exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return config.redact(" ".join(text.split()))[:300]


def flush_spool(config: SinkConfig, say: Callable[[str], None]) -> dict[str, Any]:
    """Replay every spool file in ``config.spool_dir``; each is deleted only once the server took all of it."""
    files = spool.pending_files(config.spool_dir)
    report: dict[str, Any] = {"files": len(files), "replayed": 0, "points": 0, "left": []}
    if not files:
        return report
    with make_client(config) as client:

        def post(body: bytes) -> None:
            client.write(record=body, write_precision=WritePrecision.NS)

        for path in files:
            try:
                points = spool.replay(path, post, config.batch_size)
            except spool.SpoolBusy as exc:
                say(f"skipped: {exc}")
                report["left"].append(str(path))
                continue
            except Exception as exc:  # the server's refusal; the file keeps what was not accepted
                say(f"{path}: not replayed: {describe_error(exc, config)}")
                report["left"].append(str(path))
                continue
            say(f"{path}: {points} points replayed, file removed")
            report["replayed"] += 1
            report["points"] += points
    return report
