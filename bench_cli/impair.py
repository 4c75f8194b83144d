"""``benchmark-runner impair``: the impairment proxy on its own, for any UDP traffic, until Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import click

from engine.impair.spec import SpecError, parse_spec
from ipc.errors import BenchError

SPEC_HELP = (
    "Impairment, comma-separated: [up.|down.]delay=MS|uniform:LOW:HIGH|normal:MEAN:SD|trace:FILE, "
    "[up.|down.]loss=P, dup=P, reorder=P (P as 0.02 or 2%), seed=N. up = runner to agent."
)


def checked_spec(text: str):
    """The parsed spec, or the one-line usage error."""
    try:
        return parse_spec(text)
    except SpecError as exc:
        raise BenchError(f"--impair: {exc}") from None


def host_port(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise BenchError(f"{flag} {text!r}: expected HOST:PORT")
    return host, int(port)


@click.command("impair", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--to", "upstream", required=True, metavar="HOST:PORT", help="Where datagrams go (the echo's UDP port).")
@click.option("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="Where clients send; port 0 = any free.")
@click.option("--impair", "spec", required=True, metavar="SPEC", help=SPEC_HELP)
@click.option(
    "--truth-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every datagram's kernel arrival, departure and fate here (JSON lines).",
)
def impair_cli(upstream: str, listen: str, spec: str, truth_log: Path | None) -> int:
    """Relay UDP from --listen to --to, delaying, dropping, duplicating and reordering on a seeded schedule.

    Prints the address it listens on, then relays until Ctrl-C or SIGTERM.
    """
    from engine.impair.process import ProxyConfig, run_proxy  # lazily: a run without the proxy never loads it

    parsed = checked_spec(spec)
    (up_host, up_port), (host, port) = host_port(upstream, "--to"), host_port(listen, "--listen")
    config = ProxyConfig(spec, up_host, up_port, host, port, str(truth_log) if truth_log else None)
    try:
        run_proxy(config, lambda line: click.echo(line), parsed)
    except OSError as exc:
        raise BenchError(f"impair: {exc.strerror or exc}") from None
    return 0
