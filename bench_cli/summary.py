"""The end-of-run summary printed to the terminal: one block per platform, then warnings."""

from __future__ import annotations

from typing import Any

import click

from engine.parent.results.model import PlatformResult


def _fmt(value: Any, unit: str = " ms") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def render(result: PlatformResult) -> str:
    """Multi-line summary of one platform's result."""
    s, m = result.statistics, result.metadata
    lines = [
        click.style(f"{result.platform}", bold=True)
        + f"  run {m.run_id}  location {m.location_id}"
        + ("  (PARTIAL)" if m.partial else ""),
        f"  pings     {s.successful_messages}/{s.total_messages} answered, "
        f"loss {s.packet_loss_rate * 100:.2f}%, late {s.late_messages}, "
        f"duplicate {s.duplicate_messages}, out of order {s.out_of_order_messages}",
        f"  RTT       p50 {_fmt(s.p50_rtt)}  p95 {_fmt(s.p95_rtt)}  p99 {_fmt(s.p99_rtt)}  "
        f"p99.9 {_fmt(s.p99_9_rtt)}",
        f"            mean {_fmt(s.mean_rtt)}  min {_fmt(s.min_rtt)}  max {_fmt(s.max_rtt)}  "
        f"std {_fmt(s.std_dev_rtt)}",
        f"  split     {split_line(result)}",
        f"  jitter    {_fmt(s.jitter)} (mean |ΔRTT|)  {_fmt(s.jitter_rfc3550)} (RFC 3550)",
        f"  network   RTT p50 {_fmt(s.p50_network_rtt)} (RTT minus agent processing "
        f"{_fmt(s.mean_server_processing)})",
        _one_way_line(s, m),
        *_direction_lines(s, m),
        f"  send lag  p50 {_fmt(s.send_lag_p50)}  p99 {_fmt(s.send_lag_p99)}  max {_fmt(s.send_lag_max)}",
        "  stamps    " + "  ".join(f"{k} {v}" for k, v in m.timestamp_source.items()),
    ]
    if s.stack_delay_p50 is not None:
        lines.append(
            f"  stack     p50 {_fmt(s.stack_delay_p50 * 1e3, ' µs')}  p99 {_fmt(s.stack_delay_p99 * 1e3, ' µs')}  "
            f"max {_fmt(s.stack_delay_max * 1e3, ' µs')} (this host's receive path: user t4 − kernel t4)"
        )
    if m.impairment:
        log = f", truth in {m.impairment['truth_log']}" if m.impairment.get("truth_log") else ""
        lines.append(f"  impaired  through the proxy: {m.impairment['text']} (seed {m.impairment['seed']}){log}")
    if m.error:
        lines.append(click.style(f"  error: {m.error}", fg="red"))
    lines += [click.style(f"  warning: {w}", fg="yellow") for w in m.warnings]
    return "\n".join(lines)


def _direction_lines(s, m) -> list[str]:
    """Each direction on its own: its loss, jitter and delay variation (any clock mode), and its one-way
    percentiles with their bound where the clocks split them."""
    lines = []
    for way, kind, label in (("upstream", "client_to_server", "up"), ("downstream", "server_to_client", "down")):
        lost = getattr(s, f"lost_{way}")
        line = f"  {label:<9} lost {lost if lost is not None else 'n/a'}, jitter {_fmt(getattr(s, f'jitter_{way}'))}, "
        line += f"delay above its minimum p99 {_fmt(getattr(s, f'owd_variation_{way}_p99'))}"
        p50, p99 = getattr(s, f"p50_{kind}"), getattr(s, f"p99_{kind}")
        if m.one_way_withheld:
            line += ", one-way withheld"
        elif p50 is not None:
            bound = f" ± {m.one_way_bound_ms:.3f}" if m.one_way_bound_ms is not None else " (no clock bound)"
            line += f", one-way p50 {p50:.3f}{bound} ms, p99 {p99:.3f}{bound} ms"
        lines.append(line)
    if s.lost_unknown_direction:
        lines.append(f"            {s.lost_unknown_direction} lost ping(s) of unknown direction (the agent kept no record)")
    return lines


def _one_way_line(s, m) -> str:
    if m.one_way_withheld:
        return (
            f"  one-way   withheld (clock mode {m.clock_mode}, but θ̂ {_fmt(m.clock_offset_ms)} ± "
            f"{_fmt(m.clock_offset_uncertainty_ms)}; see the warning)"
        )
    return (
        f"  one-way   mean client→server {_fmt(s.mean_client_to_server)}  mean server→client "
        f"{_fmt(s.mean_server_to_client)}  (means, not p50s; {_clock_note(m)})"
    )


def split_line(result: PlatformResult) -> str:
    """Where the time goes: the RTT p50 as the wire plus the endpoints, or why it cannot be split."""
    s, m = result.statistics, result.metadata
    if s.p50_rtt is None:
        return "no RTT to split"
    if s.transport_rtt_p50 is None or s.endpoint_share_p50 is None:
        return f"RTT p50 {s.p50_rtt:.3f} ms = wire ? + endpoints ? (transport RTT missing)"
    return (
        f"RTT p50 {s.p50_rtt:.3f} ms = wire {s.transport_rtt_p50:.3f} + endpoints {s.endpoint_share_p50:.3f}"
        f" (transport RTT from {m.transport_rtt_source})"
    )


def _clock_note(m) -> str:
    """How the one-way split was made: with θ̂ in estimate mode, with θ = 0 otherwise (θ̂ then only checks it)."""
    theta = f"θ̂ {_fmt(m.clock_offset_ms)} ± {_fmt(m.clock_offset_uncertainty_ms)}"
    if m.clock_mode == "estimate":
        return f"split with {theta}, assuming symmetric paths"
    why = "same kernel clock" if m.clock_mode == "same-host" else "clocks stated synced"
    return f"clock mode {m.clock_mode}: θ = 0 ({why}); {theta} is only a check"


def render_comparison(comparison: dict[str, Any]) -> str:
    lines = [click.style("comparison", bold=True) + f"  ({comparison['method']})"]
    ranked = comparison["ranking_by_median_rtt"]
    lines.append(
        "  ranking   " + " < ".join(ranked) if len(ranked) > 1 else "  ranking   none: fewer than two platforms had pongs"
    )
    if comparison["unranked"]:
        lines.append(f"  unranked  {', '.join(comparison['unranked'])} (no pongs)")
    for pair in comparison["pairs"]:
        a, b = pair["platforms"]
        low, high = (f"{x:+.3f}" if x is not None else "n/a" for x in pair["ci95_ms"])
        lines.append(
            f"  {a} - {b}: {pair['median_rtt_difference_ms']:+.3f} ms [{low}, {high}]"
            f"  p={pair['p_value_holm']:.3g} (Holm)  effect {pair['effect']} (Cliff's δ {pair['cliffs_delta']:+.2f})"
            f"  {pair['verdict']}"
        )
    return "\n".join(lines)
