"""The result file as a typed model: msgspec structs, written and read back.

The original's keys come first in each object and keep their name, type and
unit; additions follow (docs/ARCHITECTURE.md, "Output JSON"). ``dump_pieces`` writes the
text ``json.dump(indent=2)`` would write for the equivalent dicts, streaming
the per-ping ``measurements`` a chunk at a time; ``load`` reads a file of this
format version (or an older one it knows) back into the same structs, so
``load(dumps(x)) == x``. A field's declaration order is its order in the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec

from engine.parent.results.histograms import Histograms
from engine.parent.results.measurements import INDENT, Measurements

#: Bumped when a key changes meaning or type; readers refuse versions they do not know.
#: 2: ``start_time`` (and so ``duration_ms``) counts from the first measured ping, no longer from the run's start.
FORMAT_VERSION = 2
#: Versions ``load`` reads: a version 1 file loads as written and keeps saying 1, so its ``start_time`` is read as it was meant.
READABLE_VERSIONS = (1, 2)

Number = int | float


class Statistics(msgspec.Struct, kw_only=True):
    """``statistics``: the original's thirteen keys, then additions (ms unless named otherwise).

    Keyword-only, so an addition can carry a default where it sits: files written before it still load."""

    total_messages: int
    successful_messages: int
    failed_messages: int
    packet_loss_rate: float
    mean_rtt: float | None
    median_rtt: float | None
    min_rtt: float | None
    max_rtt: float | None
    std_dev_rtt: float | None
    p50_rtt: float | None
    p95_rtt: float | None
    p99_rtt: float | None
    jitter: float | None
    # additions
    p99_9_rtt: float | None
    jitter_rfc3550: float | None
    mean_server_processing: float | None
    mean_network_rtt: float | None
    median_network_rtt: float | None
    p50_network_rtt: float | None
    p99_network_rtt: float | None
    mean_client_to_server: float | None
    mean_server_to_client: float | None
    send_lag_p50: float | None
    send_lag_p99: float | None
    send_lag_max: float | None
    stack_delay_p50: float | None = None  # user t4 - kernel t4: this host's receive path
    stack_delay_p99: float | None = None
    stack_delay_max: float | None = None
    late_messages: int
    duplicate_messages: int
    out_of_order_messages: int
    malformed_messages: int
    unknown_messages: int
    implausible_agent_stamps: int = 0  # pongs whose agent-side values were left out (engine/parent/analysis/plausibility.py)
    #: The wire (the stack's own RTT, both legs through an SFU) and the endpoints' share of the RTT p50
    #: (engine/parent/analysis/breakdown.py); None where the wire is missing.
    transport_rtt_p50: float | None = None
    transport_rtt_p99: float | None = None
    endpoint_share_p50: float | None = None
    #: failed_messages by direction (engine/parent/analysis/loss_direction.py); null in files written before them.
    lost_upstream: int | None = None
    lost_downstream: int | None = None
    lost_unknown_direction: int | None = None
    #: Each direction's delay variation from each host's own clock (engine/parent/analysis/directions.py), ms.
    jitter_upstream: float | None = None
    jitter_downstream: float | None = None
    jitter_rfc3550_upstream: float | None = None
    jitter_rfc3550_downstream: float | None = None
    owd_variation_upstream_p50: float | None = None
    owd_variation_upstream_p95: float | None = None
    owd_variation_upstream_p99: float | None = None
    owd_variation_downstream_p50: float | None = None
    owd_variation_downstream_p95: float | None = None
    owd_variation_downstream_p99: float | None = None
    #: One-way delay percentiles where one-way values stand (exact, from the samples), ms; read with ± metadata.one_way_bound_ms.
    p50_client_to_server: float | None = None
    p95_client_to_server: float | None = None
    p99_client_to_server: float | None = None
    p50_server_to_client: float | None = None
    p95_server_to_client: float | None = None
    p99_server_to_client: float | None = None


class Metadata(msgspec.Struct, kw_only=True):
    """``metadata``: the original's nine keys, then how every number was obtained (keyword-only, as ``Statistics``).

    ``start_time`` is the first measured ping's send instant (Unix s), or the
    run's start when no ping was measured; ``duration_ms`` runs from it to
    ``end_time``. ``room_url`` is the room joined (Daily's room URL, LiveKit's
    server URL as the original writes it), null where there is no room.
    """

    start_time: float
    end_time: float
    duration_ms: float
    iterations: int
    timeout_ms: Number
    platform: str
    room_url: str | None = None  # absent from the first version 1 files
    location_id: str
    run_id: str
    # additions
    format_version: int
    engine_version: str
    host: dict[str, Any]
    sdk_versions: dict[str, str]
    agent_url: str | None
    agent: dict[str, Any]
    cooldown_ms: Number
    warmup: int
    payload_bytes: int
    reliable: bool
    busy_poll_us: int
    clock_mode: str
    clock_offset_ms: float | None
    clock_offset_uncertainty_ms: float | None
    clock_anchor_uncertainty_ns: int | None
    #: Per stamp t1..t4: "kernel" or "user" (empty in files written before stamps were told apart).
    timestamp_source: dict[str, str] = {}
    one_way_available: bool
    legacy_agent: bool
    pings_sent: int | None
    connect_time_ms: float | None
    worker_cpu_s: float | None
    worker_measuring_cpu_s: float | None
    worker_peak_rss_mb: float | None = None  # absent from the first version 1 files
    worker_exit_code: int | None
    partial: bool
    error: str | None
    histogram_out_of_range: int
    warnings: list[str]
    sink: dict[str, Any] = {}
    impairment: dict[str, Any] | None = None  # the proxy's spec, seed, addresses and truth log (--impair)
    #: Side by side: --duration as asked, this worker's offset in the shared send grid, its core with --pin.
    duration_requested_s: float | None = None
    phase_offset_ms: float = 0.0
    pinned_cpu: int | None = None
    #: Where ``transport_rtt_*`` come from (null: missing, and a warning says why); each side's figures in ms.
    transport_rtt_source: str | None = None
    transport_rtt: dict[str, Any] = {}
    #: The run's own θ̂ refuted the clock mode's θ = 0: one-way values are null (docs/metrics.md).
    one_way_withheld: bool = False
    #: Both hosts' clock bounds added (ms; null when a host gave none) and each host's readings (ipc.clocks.discipline).
    clock_bound_ms: float | None = None
    clock_sources: dict[str, Any] = {}
    #: How far each one-way value may be off through the clocks: 0 same-host, clock_bound_ms synced, null otherwise.
    one_way_bound_ms: float | None = None


class LostPing(msgspec.Struct):
    """A measured ping that got no pong within the timeout; ``timestamp`` is its send time, Unix seconds;
    ``direction`` upstream, downstream or unknown (engine/parent/analysis/loss_direction.py)."""

    message_number: int
    timestamp: float
    direction: str = "unknown"


class PlatformResult(msgspec.Struct):
    """One platform's object: exactly the original's file when one platform ran."""

    platform: str
    measurements: Measurements
    statistics: Statistics
    metadata: Metadata
    lost: list[LostPing] = []
    #: Message numbers of measured pings whose pong came back after the timeout (each is also in ``lost``).
    late: list[int] = []
    #: Encoded HDR histograms (engine.parent.results.histograms); files written before them load with None.
    histograms: Histograms | None = None


class MultiResult(msgspec.Struct):
    """Several platforms measured side by side in one run."""

    run_id: str
    results: dict[str, PlatformResult]
    comparison: dict[str, Any]


Result = PlatformResult | MultiResult


class _Shape(msgspec.Struct):
    """Just enough of a file to tell which model it holds and which version wrote it."""

    results: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class ResultFormatError(ValueError):
    """A file that is not a result this version can read."""


def platform_results(result: Result) -> dict[str, PlatformResult]:
    """Every platform's object in a result, one platform or several."""
    return result.results if isinstance(result, MultiResult) else {result.platform: result}


def load(data: bytes) -> Result:
    """A result file's text back into the model; ``ResultFormatError`` names what is wrong."""
    try:
        shape = msgspec.json.decode(data, type=_Shape)
        metas = [r.get("metadata") or {} for r in shape.results.values()] if shape.results else [shape.metadata or {}]
        for meta in metas:
            version = meta.get("format_version") if isinstance(meta, dict) else None
            if version not in READABLE_VERSIONS:
                raise ResultFormatError(
                    f"result format version {version!r} is not one this reader knows"
                    f" ({', '.join(map(str, READABLE_VERSIONS))})"
                )
        kind = MultiResult if shape.results is not None else PlatformResult
        return msgspec.json.decode(data, type=kind, dec_hook=_decode_measurements)
    except msgspec.DecodeError as exc:  # ValidationError included: the file's shape is wrong
        raise ResultFormatError(f"not a result file: {exc}") from None


def _decode_measurements(kind: type, rows: Any) -> Any:
    if kind is Measurements and isinstance(rows, list):
        return Measurements.from_rows(rows)
    raise NotImplementedError(f"cannot decode {kind}")


def dumps(result: Result) -> str:
    return "".join(dump_pieces(result))


def dump_pieces(result: Result) -> Iterator[str]:
    """The file's text in pieces (``json.dump(indent=2)``'s layout, then a newline)."""
    yield from _json_pieces(result, 0)
    yield "\n"


def _json_pieces(value: Any, level: int) -> Iterator[str]:
    """``json.dumps(value, indent=2)`` in pieces, for a value nested ``level`` deep."""
    if isinstance(value, Measurements):
        yield from value.iter_json(level)
    elif isinstance(value, msgspec.Struct):
        yield from _json_pieces({f: getattr(value, f) for f in value.__struct_fields__}, level)
    elif isinstance(value, dict) and value:
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield f"{',' if i else ''}\n{INDENT * (level + 1)}{json.dumps(key)}: "
            yield from _json_pieces(item, level + 1)
        yield f"\n{INDENT * level}}}"
    elif isinstance(value, (list, tuple)) and value:
        yield "["
        for i, item in enumerate(value):
            yield f"{',' if i else ''}\n{INDENT * (level + 1)}"
            yield from _json_pieces(item, level + 1)
        yield f"\n{INDENT * level}]"
    else:
        yield json.dumps(value)
