"""``benchmark-runner``: parse the original's flags, run the engine, print and save the result.

Defaults come from the environment and a ``.env`` file (flag > environment >
.env > built-in). Bad input is one line on stderr and exit code 2; Ctrl-C
saves what was measured (marked partial) and exits 130, and SIGTERM or SIGHUP
do the same with 128 + their number.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
from pathlib import Path

import click
from dotenv import load_dotenv

import transports
from bench_cli.compare import compare_cli
from bench_cli.finish import finish
from bench_cli.impair import SPEC_HELP, checked_spec, impair_cli
from bench_cli.origin import bad_parameter, naming_environment
from bench_cli.outputs import OutputPlan, output_options
from bench_cli.progress import ProgressBar
from bench_cli.report import report_cli
from bench_cli.schedule import pop_schedule, schedule_options
from bench_cli.sink import influx_options, sink_config
from engine.parent.results import output_file
from engine.parent.settings import RunSettings
from engine.parent.supervision.runner import check_settings, new_run_id, run_benchmark
from ipc.clocks import discipline
from ipc.errors import BenchError
from ipc.protocol import MAX_MESSAGE_BYTES
from ipc.version import version

EXIT_BAD_INPUT = 2
#: Platforms whose traffic the impairment proxy can carry: plain UDP, and WebRTC with an agent on loopback.
IMPAIRABLE = ("udp", "webrtc")
#: SIGTERM (timeout, systemd, CI cancelling a job) and SIGHUP (a closed terminal) stop a run as Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_stopped_by = [signal.SIGINT]


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    _stopped_by[0] = signum
    raise KeyboardInterrupt


def exit_interrupted() -> int:
    """128 + the signal that stopped the run, as a shell reports a process it killed."""
    return 128 + _stopped_by[0]


def _platforms(values: tuple[str, ...]) -> list[str]:
    names = [p.strip() for v in values for p in v.split(",") if p.strip()]
    for name in names:
        if name not in transports.PLATFORMS:
            raise BenchError(f"unknown platform {name!r}; choose from {', '.join(transports.PLATFORMS)}")
    if not names:
        raise BenchError("--platform is required")
    return list(dict.fromkeys(names))


def _check_payload(payload_bytes: int, platforms: list[str]) -> None:
    """A ping must fit in one message of every platform, and under the echo's own limit."""
    for name in platforms:
        limit = min(transports.PLATFORMS[name].max_message_bytes, MAX_MESSAGE_BYTES)
        if payload_bytes > limit:
            raise BenchError(f"--payload-bytes {payload_bytes} is more than {name} carries in one message ({limit:,} bytes)")


def _agent_urls(values: tuple[str, ...], platforms: list[str]) -> dict[str, str]:
    """``--agent-url URL`` applies to every platform; ``--agent-url platform=URL`` to one."""
    urls: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if sep and name in transports.PLATFORMS:
            urls[name] = url
        else:
            urls.update(dict.fromkeys(platforms, value))
    missing = [p for p in platforms if p not in urls and not transports.PLATFORMS[p].embeddable]
    if missing:
        raise BenchError(f"--agent-url is required for {', '.join(missing)}")
    return urls


def _flags_without_effect(platforms: list[str], agent_urls: tuple[str, ...], unreliable: bool) -> list[str]:
    """Flags the chosen platforms ignore: worth a word, since the user expected them to change something."""
    out = [
        f"--unreliable changes nothing for {name}: it has unreliable delivery only"
        for name in platforms
        if unreliable and "reliable" not in transports.PLATFORMS[name].modes
    ]
    for value in agent_urls:
        name, sep, _ = value.partition("=")
        if sep and name in transports.PLATFORMS and name not in platforms:
            out.append(f"--agent-url {name}=…: {name} is not being run, so it is not used")
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--platform",
    "platform_",
    multiple=True,
    metavar="NAME[,NAME]",
    help=f"Platform(s) to benchmark: {', '.join(transports.PLATFORMS)}. Repeat or comma-separate to run several side by side.",
)
@click.option(
    "--agent-url",
    multiple=True,
    metavar="[PLATFORM=]URL",
    help="Echo agent API endpoint. Omitted for webrtc/udp: an embedded agent runs on 127.0.0.1.",
)
@click.option(
    "--iterations", type=int, envvar="ITERATIONS", show_envvar=True, default=100, help="Measured pings per platform."
)
@click.option(
    "--timeout",
    "timeout_ms",
    type=float,
    envvar="TIMEOUT_MS",
    show_envvar=True,
    default=5000,
    help="Ping timeout in ms.",
)
@click.option(
    "--cooldown",
    "cooldown_ms",
    type=float,
    envvar="COOLDOWN_MS",
    show_envvar=True,
    default=100,
    help="Interval between pings in ms, open loop.",
)
@click.option(
    "--location",
    "location_id",
    envvar="LOCATION_ID",
    show_envvar=True,
    default="local",
    help="Location identifier, e.g. us-west-2.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Save results to this JSON file (a FIFO or device is written straight into); - = standard output, the summary then goes to standard error.",
)
@click.option("--verbose", is_flag=True, help="Enable verbose logging.")
@click.option(
    "--warmup", type=int, envvar="WARMUP", show_envvar=True, default=5, help="Unmeasured pings sent first."
)
@click.option(
    "--payload-bytes",
    type=int,
    envvar="PAYLOAD_BYTES",
    show_envvar=True,
    default=0,
    help="Pad each ping to this many bytes; 0 = no padding.",
)
@click.option(
    "--unreliable",
    is_flag=True,
    envvar="UNRELIABLE",
    show_envvar=True,
    help="Unordered data channel with no retransmits (webrtc, livekit).",
)
@click.option(
    "--clock-mode",
    type=click.Choice(["auto", "same-host", "synced", "estimate"]),
    envvar="CLOCK_MODE",
    show_envvar=True,
    default="auto",
    help="How one-way estimates split the RTT; auto = same-host when the agent shares this kernel, else estimate.",
)
@click.option(
    "--clock-source",
    "clock_source_",
    envvar=discipline.ENV,
    show_envvar=True,
    default=None,
    metavar=discipline.METAVAR,
    help="Where this host's clock bound is read (ClockBound, chrony, the kernel's adjtimex); the agent reads its own. "
    "auto takes the first present; with both hosts bounded within 1 ms, --clock-mode auto chooses synced. [default: auto]",
)
@click.option(
    "--busy-poll-us",
    type=int,
    envvar="BUSY_POLL_US",
    show_envvar=True,
    default=0,
    help="Keep the worker polling up to this many µs after each ping instead of sleeping; lowers RTT on fast local paths when the echo has its own CPU, burns CPU ≈ RTT × rate. On udp (t4 from the kernel) the echo polls instead, around each expected ping, up to what the agent grants (2,000 µs). 0 = off.",
)
@click.option(
    "--connect-timeout",
    type=float,
    envvar="CONNECT_TIMEOUT_S",
    show_envvar=True,
    default=30.0,
    help="Seconds allowed to join the platform.",
)
@click.option("--impair", "impair", default=None, metavar="SPEC", help="Route the udp or webrtc path through an impairment proxy. " + SPEC_HELP)
@click.option(
    "--impair-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --impair: write the proxy's per-datagram truth (arrival, departure, fate) here.",
)
@influx_options
@output_options
@schedule_options
@click.version_option(version(), prog_name="benchmark-runner")
def cli(
    platform_,
    agent_url,
    iterations,
    timeout_ms,
    cooldown_ms,
    location_id,
    output,
    verbose,
    warmup,
    payload_bytes,
    unreliable,
    clock_mode,
    clock_source_,
    busy_poll_us,
    connect_timeout,
    impair,
    impair_log,
    **influx,
) -> int:
    """Measure data-channel round-trip latency to an echo agent.

    `benchmark-runner flush-spool --help`: replay points a sink could not write.
    `benchmark-runner compare --help`: what changed between two result files.
    `benchmark-runner report --help`: an HTML page, a Markdown table or a CSV from result files.
    `benchmark-runner impair --help`: the impairment proxy on its own.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    with naming_environment(click.get_current_context()):
        platforms = _platforms(platform_)
        urls = _agent_urls(agent_url, platforms)
        single_mode = [p for p in platforms if "unreliable" not in transports.PLATFORMS[p].modes]
        if unreliable and single_mode:
            raise BenchError(
                f"--unreliable: {', '.join(single_mode)} has a single, reliable message mode; run it without --unreliable"
            )
        if impair is not None:
            checked_spec(impair)
            if len(platforms) > 1 or platforms[0] not in IMPAIRABLE:
                raise BenchError(f"--impair: the proxy routes {' or '.join(IMPAIRABLE)}, one platform at a time")
        elif impair_log is not None:
            raise BenchError("--impair-log needs --impair")
        iterations, duration_s, pin = pop_schedule(influx, iterations, cooldown_ms)
        settings = RunSettings(
            run_id=new_run_id(),
            iterations=iterations,
            timeout_ms=int(timeout_ms) if float(timeout_ms).is_integer() else timeout_ms,
            cooldown_ms=cooldown_ms,
            warmup=warmup,
            payload_bytes=payload_bytes,
            location_id=location_id,
            reliable=not unreliable,
            clock_mode=clock_mode,
            clock_source=discipline.from_env(clock_source_),
            busy_poll_us=busy_poll_us,
            duration_s=duration_s,
            pin=pin,
            impair=impair,
            impair_log=str(impair_log) if impair_log else None,
        )
        check_settings(settings)
        sink = sink_config(influx)
        if not 0 < connect_timeout < math.inf:  # also refuses nan
            raise BenchError(f"--connect-timeout must be a positive number of seconds, got {connect_timeout:g}")
        _check_payload(payload_bytes, platforms)
        if output is not None:
            try:
                output_file.check(output)
            except OSError as exc:
                raise BenchError(str(exc)) from None
        outputs = OutputPlan.pop(influx)
        stream = outputs.open_stream(output, lambda line: click.echo(f"benchmark-runner: warning: {line}", err=True))
    for line in _flags_without_effect(platforms, agent_url, unreliable):
        click.echo(f"benchmark-runner: warning: {line}", err=True)

    try:
        with ProgressBar(len(platforms) * iterations, enabled=not outputs.quiet) as bar:
            outcome = run_benchmark(
                platforms,
                urls,
                settings,
                connect_timeout_s=connect_timeout,
                progress=bar.update,
                log_level=logging.INFO if verbose else logging.WARNING,
                sink=sink,
                stream=stream,
            )
    finally:
        if stream is not None:
            stream.close()

    def interrupted() -> int:
        click.echo(f"interrupted by {signal.Signals(_stopped_by[0]).name}: partial results kept", err=True)
        return exit_interrupted()

    return finish(outcome, output, outputs, interrupted)


@click.command("flush-spool", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@influx_options
def flush_spool_cli(**influx) -> int:
    """Send the points a run's sink spooled to the server; each file is deleted once all of it is accepted.

    Exit 0 when no spool file is left, 1 when the server refused some (they stay), 2 on bad input.
    """
    from engine.parent.sinks.client import flush_spool  # lazily: it loads influxdb3-python and pyarrow

    config = sink_config(influx)
    if config is None:
        raise BenchError("--influxdb-url (or INFLUXDB_URL) is required to replay a spool")
    report = flush_spool(config, lambda line: click.echo(f"flush-spool: {line}"))
    click.echo(
        f"flush-spool: {report['points']} points replayed from {report['replayed']} of {report['files']} "
        f"spool files in {config.spool_dir}; {len(report['left'])} left"
    )
    return 1 if report["left"] else 0


def main() -> None:
    """Console entry: .env first (it only fills what the environment lacks), then one-line errors.

    ``benchmark-runner flush-spool|impair|compare|report ...`` is dispatched here rather than by a click group, so the
    run's own flags (the original's contract) parse exactly as they always did.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_like_ctrl_c)
    load_dotenv(Path.cwd() / ".env", override=False)
    args = sys.argv[1:]
    subcommands = {"flush-spool": flush_spool_cli, "impair": impair_cli, "compare": compare_cli, "report": report_cli}
    name = args[0] if args[:1] and args[0] in subcommands else ""
    command = subcommands.get(name, cli)
    try:
        code = command.main(
            args=args[1:] if name else args,
            prog_name=f"benchmark-runner {name}".strip(),
            standalone_mode=False,
        )
    except BenchError as exc:
        click.echo(f"benchmark-runner: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.UsageError as exc:
        message = bad_parameter(exc, args) if isinstance(exc, click.BadParameter) else exc.format_message()
        click.echo(f"benchmark-runner: error: {message}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(exit_interrupted())
    sys.exit(code or 0)
