"""A whole benchmark run: agent handshake, workers, results.

This is what the CLI calls; it knows no terminal. Input problems raise
``BenchError`` before anything is measured; once workers run, every outcome
(complete, partial, failed) yields a result object so nothing measured is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

import transports
from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode, choose_mode, hosts_bound_ms
from engine.parent.results import builder as results
from engine.parent.results.compare import compare
from engine.parent.results.histograms import line_fields
from engine.parent.results.model import MultiResult, PlatformResult, Result
from engine.parent.settings import PlatformContext, RunSettings
from engine.parent.sinks import SeriesInfo, SinkConfig
from engine.parent.sinks.stream import StreamWriter
from engine.parent.supervision import agent_client, placement
from engine.parent.supervision.embedded_agent import EmbeddedAgent
from engine.parent.supervision.orchestrator import HANG_SLACK_S, Orchestrator, Progress
from engine.parent.supervision.worker_process import WorkerProcess
from ipc.clocks import discipline
from ipc.errors import BenchError
from ipc.spec import WorkerSpec


@dataclass
class RunOutcome:
    """The result plus what the CLI needs to pick an exit code.

    The sink is drained by ``drain_sink``, after the caller has saved and shown the result: a
    stalled database then delays (and Ctrl-C cuts short) only the sink's own delivery.
    """

    output: Result
    per_platform: dict[str, PlatformResult]
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    sink: dict[str, Any] = field(default_factory=dict)
    close_sink: Callable[[], dict[str, Any]] | None = None
    #: What each worker sent (raw columns: per-second histograms for ``--hlog`` are cut from them on demand).
    runs: dict[str, PlatformRun] = field(default_factory=dict)

    def drain_sink(self) -> dict[str, Any]:
        """Send the run summaries and wait for the sink; its final report goes into every ``metadata.sink``."""
        if self.close_sink is not None:
            self.sink, self.close_sink = self.close_sink(), None
            for result in self.per_platform.values():
                result.metadata.sink = self.sink
        return self.sink


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def session_s(settings: RunSettings, connect_timeout_s: float) -> float:
    """How long the agent's session must last: joining, the whole schedule, the last timeout, and the hang slack."""
    pings = settings.warmup + settings.iterations
    return connect_timeout_s + pings * settings.cooldown_ms / 1e3 + settings.timeout_ms / 1e3 + HANG_SLACK_S


async def _handshake(
    platform: str, url: str, settings: RunSettings, timeout_s: float, duration_s: float, runner_clock: dict[str, Any]
) -> tuple[str, dict[str, Any], PlatformContext]:
    health = await agent_client.health(url, timeout_s)
    room_id, credentials = await agent_client.connect(
        url, platform, settings.reliable, timeout_s, duration_s, run_id=settings.run_id, busy_poll_us=settings.busy_poll_us
    )
    agent_clock = credentials.pop("agent_clock", None)
    clocks = {"runner": {"start": runner_clock}, "agent": {"start": agent_clock}}
    mode = choose_mode(settings.clock_mode, health.boot_id, hosts_bound_ms([runner_clock], [agent_clock]))
    agent = {"version": health.version, "room_id": room_id, "same_host": mode.value == "same-host"}
    if "min_ping_bytes" in credentials:  # pings were padded to at least this, whatever --payload-bytes said
        agent["min_ping_bytes"] = credentials["min_ping_bytes"]
    if credentials.get("busy_poll_us"):  # the echo polled around each ping for up to this long
        agent["busy_poll_us"] = credentials["busy_poll_us"]
    room_url = credentials.get("room_url") or credentials.get("server_url")  # Daily's; LiveKit's as the original
    room_url = room_url if isinstance(room_url, str) else None
    ctx = PlatformContext(agent_url=url, clock_mode=mode, agent=agent, room_url=room_url, clock_sources=clocks)
    return room_id, credentials, ctx


def _release(urls: dict[str, str], rooms: dict[str, str], contexts: dict[str, PlatformContext]) -> None:
    """/disconnect every room the run got, whatever happened since; keep the agent's side of the transport RTT,
    and what it says of its session (which pings its echo received, its clock at the end)."""
    for platform, room_id in rooms.items():
        reply = asyncio.run(agent_client.disconnect(urls[platform], room_id))
        ctx = contexts.get(platform)
        if not reply or ctx is None:
            continue
        side = reply.get("transport_rtt")
        if isinstance(side, dict):
            ctx.agent_transport_rtt = side
        record = agent_client.session_record(reply)
        if record is not None and record.pings_received is not None:
            ctx.agent_received = (record.pings_received.ranges, record.pings_received.complete)
        if record is not None and ctx.clock_sources:
            ctx.clock_sources["agent"]["end"] = record.clock


def _settle_clocks(contexts: dict[str, PlatformContext], runner_end: dict[str, Any]) -> None:
    """Each platform's clock bound, from the readings at both ends of the run (a missing one: no bound)."""
    for ctx in contexts.values():
        clocks = ctx.clock_sources
        clocks["runner"]["end"] = runner_end
        clocks["agent"].setdefault("end", None)
        ctx.clock_bound_ms = hosts_bound_ms(list(clocks["runner"].values()), list(clocks["agent"].values()))


def _worker_spec(
    platform: str,
    credentials: dict[str, Any],
    settings: RunSettings,
    ctx: PlatformContext,
    connect_timeout_s: float,
    log_level: int,
) -> WorkerSpec:
    return WorkerSpec(
        platform=platform,
        credentials=credentials,
        run_id=settings.run_id,
        iterations=settings.iterations,
        warmup=settings.warmup,
        interval_ns=round(settings.cooldown_ms * 1e6),
        timeout_ns=round(settings.timeout_ms * 1e6),
        # An echo that must not answer with more than it got (udp) names the least it needs.
        payload_bytes=max(settings.payload_bytes, credentials.get("min_ping_bytes", 0)),
        reliable=settings.reliable,
        busy_poll_ns=settings.busy_poll_us * 1000,
        connect_timeout_s=connect_timeout_s,
        log_level=log_level,
        phase_ns=ctx.phase_ns,
        cpu=ctx.cpu,
    )


def run_benchmark(
    platforms: list[str],
    agent_urls: dict[str, str],
    settings: RunSettings,
    *,
    connect_timeout_s: float = 30.0,
    progress: Progress | None = None,
    log_level: int = logging.WARNING,
    sink: SinkConfig | None = None,
    stream: StreamWriter | None = None,
) -> RunOutcome:
    """Measure every platform at once, one worker each; returns the result, shaped as the original's.

    A platform missing from ``agent_urls`` gets an embedded agent on 127.0.0.1, one process per platform
    so one echo's loop never delays another's pongs. Workers start first: they load their SDKs while the
    agents start and the handshakes run. ``stream`` gets the header once every handshake is done, each
    frame's lines as it arrives, and the statistics last.
    """
    contexts: dict[str, PlatformContext] = {}
    rooms: dict[str, str] = {}
    specs = []
    urls = dict(agent_urls)
    workers = {p: WorkerProcess(p) for p in platforms}
    with contextlib.ExitStack() as cleanup:  # undone in reverse: rooms released, agents stopped, idle workers let go
        for worker in workers.values():
            cleanup.callback(worker.abandon)
        for platform in [p for p in platforms if p not in urls]:
            urls[platform] = cleanup.enter_context(EmbeddedAgent(transports.PLATFORMS[platform].agent))
        cleanup.callback(_release, urls, rooms, contexts)
        runner_clock = discipline.as_dict(discipline.read(settings.clock_source))
        phases = placement.phases(len(platforms), round(settings.cooldown_ms * 1e6))
        cores, pin_note = placement.cores(len(platforms), settings.pin)
        for i, platform in enumerate(platforms):
            handshake = _handshake(
                platform,
                urls[platform],
                settings,
                min(connect_timeout_s, agent_client.HTTP_TIMEOUT_S),
                session_s(settings, connect_timeout_s),
                runner_clock,
            )
            rooms[platform], credentials, ctx = asyncio.run(handshake)
            ctx.phase_ns, ctx.cpu, ctx.notes = phases[i], cores[i], [pin_note] if pin_note else []
            contexts[platform] = ctx
            if settings.impair:  # the proxy stops with ``cleanup``, after the workers
                from engine.impair.process import route_through_proxy  # lazily: runs without it never load it

                credentials, ctx.impairment = route_through_proxy(
                    cleanup, platform, settings.impair, settings.impair_log, credentials
                )
            specs.append(_worker_spec(platform, credentials, settings, ctx, connect_timeout_s, log_level))
        series = {
            p: SeriesInfo(p, settings.location_id, settings.run_id, settings.warmup, c.clock_mode is ClockMode.ESTIMATE)
            for p, c in contexts.items()
        }
        if stream is not None:
            stream.header(settings, contexts, results.host_facts())
        orchestrator = Orchestrator(
            specs, workers, progress, sink, series, verbose=log_level <= logging.INFO, stream=stream
        )
        start_time = time.time()
        runs = orchestrator.run()
        end_time = time.time()
        runner_end = discipline.as_dict(discipline.read(settings.clock_source))
    _settle_clocks(contexts, runner_end)  # after the rooms' release: the agents' last readings are in

    per_platform = {p: results.platform_result(runs[p], settings, contexts[p], start_time, end_time) for p in platforms}
    sink_report = orchestrator.sink_report()
    for result in per_platform.values():
        result.metadata.sink = sink_report
    errors = [runs[p].fatal_error for p in platforms if runs[p].fatal_error]
    if len(platforms) == 1:
        output: Result = per_platform[platforms[0]]
    else:
        rtts = {p: per_platform[p].measurements.column("round_trip_time") for p in platforms}
        comparison = compare(rtts, {p: per_platform[p].statistics for p in platforms})
        output = MultiResult(settings.run_id, per_platform, comparison)
    if stream is not None:
        stream.end(output, per_platform)
    summaries = {
        p: {**msgspec.structs.asdict(r.statistics), "clock_bound_ms": r.metadata.clock_bound_ms, **line_fields(r.histograms)}
        for p, r in per_platform.items()
    }
    return RunOutcome(
        output,
        per_platform,
        orchestrator.interrupted,
        errors,
        sink_report,
        lambda: orchestrator.close_sink(summaries, end_time),
        runs,
    )


#: The longest --timeout or --cooldown taken: a day, so every instant stays a finite int64 of ns.
MAX_INTERVAL_MS = 86_400_000


def check_settings(settings: RunSettings) -> None:
    """The input checks docs/ARCHITECTURE.md asks for, as one-line errors."""
    if settings.iterations <= 0:
        raise BenchError(f"--iterations must be at least 1, got {settings.iterations}")
    if not 0 < settings.timeout_ms <= MAX_INTERVAL_MS:  # also refuses nan
        raise BenchError(f"--timeout must be more than 0 and at most {MAX_INTERVAL_MS} ms, got {settings.timeout_ms:g}")
    if not 0 <= settings.cooldown_ms <= MAX_INTERVAL_MS:
        raise BenchError(f"--cooldown must be 0 to {MAX_INTERVAL_MS} ms, got {settings.cooldown_ms:g}")
    if settings.warmup < 0:
        raise BenchError(f"--warmup must be 0 or more, got {settings.warmup}")
    if settings.busy_poll_us < 0:
        raise BenchError(f"--busy-poll-us must be 0 or more, got {settings.busy_poll_us}")
    if settings.payload_bytes < 0:
        raise BenchError(f"--payload-bytes must be 0 or more, got {settings.payload_bytes}")
