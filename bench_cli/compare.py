"""``benchmark-runner compare BASELINE NEW``: what changed per platform, and whether it is real.

pyperf's compare_to, for latency: per platform the change of p50/p95/p99 RTT
(from the runs' merged histograms) and of loss, each with a p-value (block
bootstrap on the per-ping RTTs; two-proportion test for loss), Holm-corrected
across everything compared. ``--fail-if 'p99_rtt>+10%'`` makes a CI job fail
on a regression: exit 1 when a threshold is passed by a significant change
(or by any change where significance cannot be computed, e.g. files written
with ``--summary-only``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click

from engine.parent.reports import direction_figures
from engine.parent.reports.files import Group, grouped, load_results, partial_notes
from engine.parent.results.compare import ALPHA, holm, loss_p_value, quantile_differences
from ipc.errors import BenchError

#: Latency metrics compared, and the percentile of the RTT histogram each is.
PERCENTILES = {"p50_rtt": 50.0, "p95_rtt": 95.0, "p99_rtt": 99.0}
LOSS = "packet_loss_rate"
#: Loss of each direction (docs/metrics.md, "Loss by direction"): a rate, compared as loss is.
LOSS_BY_WAY = {f"loss_{way}": way for way in direction_figures.WAYS}
LOSSES = (LOSS, *LOSS_BY_WAY)
#: Each direction's latency figures: no per-ping test, so their significance is n/a.
JITTER = {f"jitter_{way}": way for way in direction_figures.WAYS}
VARIATION = {f"owd_variation_{way}_p99": way for way in direction_figures.WAYS}
METRICS = (*PERCENTILES, LOSS, *LOSS_BY_WAY, *JITTER, *VARIATION, *direction_figures.ONE_WAY)
_RULE = re.compile(r"^\s*(\w+)\s*([<>])\s*([+-]?\d+(?:\.\d+)?)\s*(%|ms|pp)\s*$")


@dataclass(frozen=True)
class Rule:
    """``METRIC>+10%``: fail when METRIC rose by more than 10 % (``ms`` absolute, ``pp`` points of loss)."""

    text: str
    metric: str
    above: bool
    limit: float
    unit: str

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text)
        if not match:
            raise BenchError(f"--fail-if {text!r}: expected METRIC>+N% (or ms, pp), e.g. 'p99_rtt>+10%'")
        metric, op, limit, unit = match.groups()
        metric = LOSS if metric == "loss" else metric
        if metric not in METRICS:
            raise BenchError(f"--fail-if {text!r}: unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        if (unit == "pp") != (metric in LOSSES) and unit != "%":
            raise BenchError(f"--fail-if {text!r}: use pp or % for {LOSS}, ms or % for latency")
        return cls(text.strip(), metric, op == ">", float(limit), unit)


@dataclass
class Change:
    platform: str
    metric: str
    before: float | None
    after: float | None
    p_value: float | None  # None: cannot tell (no per-ping data)
    p_holm: float | None = None

    @property
    def absolute(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def relative(self) -> float | None:
        return self.absolute / self.before if self.absolute is not None and self.before else None

    @property
    def significant(self) -> bool | None:
        return None if self.p_holm is None else self.p_holm < ALPHA

    def amount(self, unit: str) -> float | None:
        if unit == "%":
            return None if self.relative is None else self.relative * 100
        return None if self.absolute is None else self.absolute * (100 if unit == "pp" else 1)

    def breaches(self, rule: Rule) -> bool:
        amount = self.amount(rule.unit)
        if rule.metric != self.metric or amount is None or self.significant is False:
            return False
        return amount > rule.limit if rule.above else amount < rule.limit


def changes(base: Group, new: Group) -> list[Change]:
    """Every metric of one platform, before and after, with its raw p-value."""
    out = []
    tests = (
        quantile_differences(new.rtts_ms, base.rtts_ms, tuple(p / 100 for p in PERCENTILES.values()))
        if len(base.rtts_ms) >= 2 and len(new.rtts_ms) >= 2
        else None
    )
    for i, (metric, pct) in enumerate(PERCENTILES.items()):
        before, after = base.percentile_ms("rtt", pct), new.percentile_ms("rtt", pct)
        out.append(Change(base.platform, metric, before, after, tests[i].p_value if tests else None))
    p_loss = loss_p_value(base.lost, base.total, new.lost, new.total)
    out.append(Change(base.platform, LOSS, base.loss_rate, new.loss_rate, p_loss))
    return out + direction_changes(base, new)


def direction_changes(base: Group, new: Group) -> list[Change]:
    """Each direction's loss (with a p-value), jitter, delay variation and one-way percentiles, where both sides have them."""
    out = []
    for metric, way in LOSS_BY_WAY.items():
        before, after = direction_figures.lost(base, way), direction_figures.lost(new, way)
        if before is not None and after is not None:
            p = loss_p_value(before, base.total, after, new.total)
            out.append(Change(base.platform, metric, before / base.total, after / new.total, p))
    figures = [
        *((m, lambda g, w=w: direction_figures.jitter(g, w)) for m, w in JITTER.items()),
        *((m, lambda g, w=w: direction_figures.variation_p99(g, w)) for m, w in VARIATION.items()),
        *((m, lambda g, m=m: direction_figures.one_way_ms(g, m)) for m in direction_figures.ONE_WAY),
    ]
    for metric, figure in figures:
        before, after = figure(base), figure(new)
        if before is not None and after is not None:
            out.append(Change(base.platform, metric, before, after, None))
    return out


def _describe(c: Change) -> str:
    if c.metric in LOSSES:
        head = f"{c.before:9.2%}    -> {c.after:9.2%}     {c.absolute * 100:+.2f} pp"
    elif c.before is None or c.after is None:
        return f"{c.metric:<28} n/a (no pongs on one side)"
    elif not c.before:  # a figure at zero before (a direction's variation can be): no ratio to give
        head = f"{c.before:9.3f} ms -> {c.after:9.3f} ms  {c.absolute:+.3f} ms"
    else:
        ratio = c.after / c.before if c.before else float("inf")
        word = "slower" if ratio > 1 else "faster" if ratio < 1 else "same"
        head = f"{c.before:9.3f} ms -> {c.after:9.3f} ms  {c.relative:+7.1%}  {max(ratio, 1 / ratio if ratio else 0):.2f}x {word}"
    if c.p_holm is None:
        why = "no per-ping data" if c.metric in (*PERCENTILES, *LOSSES) else "no per-ping test for this figure"
        verdict = f"significance n/a ({why})"
    else:
        verdict = f"{'significant' if c.significant else 'not significant'} (p={c.p_holm:.3g}, Holm)"
    return f"{c.metric:<28} {head}  {verdict}"


@click.command("compare", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--fail-if",
    "rules",
    multiple=True,
    metavar="RULE",
    help="Exit 1 when a change passes this threshold, e.g. 'p99_rtt>+10%', 'p50_rtt>+0.5ms', 'loss>+1pp'. Repeatable.",
)
def compare_cli(baseline: Path, new: Path, rules: tuple[str, ...]) -> int:
    """Compare two result files (or folders of them) per platform: p50/p95/p99 RTT and loss, with significance.

    Exit 0 no threshold passed, 1 one was, 2 bad input.
    """
    parsed = [Rule.parse(r) for r in rules]

    def by_platform(path: Path) -> dict[str, Group]:
        loaded = load_results([path])
        for note in partial_notes(loaded):
            click.echo(f"note: {note}", err=True)
        return {g.platform: g for g in grouped((r for _, r in loaded), lambda r: (r.platform,))}

    before, after = by_platform(baseline), by_platform(new)
    common = [p for p in before if p in after]
    if not common:
        raise BenchError(f"no platform in common: baseline has {', '.join(before)}; new has {', '.join(after)}")
    found = [c for p in common for c in changes(before[p], after[p])]
    tested = [c for c in found if c.p_value is not None]
    for c, p in zip(tested, holm([c.p_value for c in tested])):
        c.p_holm = p
    for platform in common:
        click.echo(
            click.style(platform, bold=True)
            + f"  ({len(before[platform].results)} -> {len(after[platform].results)} runs)"
        )
        for c in found:
            if c.platform == platform:
                click.echo(f"  {_describe(c)}")
    for platform in [p for p in (*before, *after) if p not in common]:
        click.echo(f"{platform}: only in {'baseline' if platform in before else 'new'}, not compared")
    failed = [(c, rule) for rule in parsed for c in found if c.breaches(rule)]
    for c, rule in failed:
        why = "significant" if c.significant else "significance n/a"
        click.echo(
            f"FAIL {c.platform}: {c.metric} {c.amount(rule.unit):+.2f}{rule.unit} passes {rule.text} ({why})", err=True
        )
    return 1 if failed else 0
