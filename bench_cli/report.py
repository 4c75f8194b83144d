"""``benchmark-runner report FILE|DIR … --html out.html --markdown out.md --csv out.csv``.

Runs are grouped by platform, location and day and merged through their
histograms; the HTML page plots them (percentiles on the HDR axis, CDF, RTT
and loss over time) and tabulates every statistic, the Markdown is the
overview table for a pull request or a wiki, the CSV every measured ping.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import click

from bench_cli import report_html
from engine.parent.reports import report_data
from engine.parent.reports.files import Group, day_of, grouped, load_results, partial_notes, read_result, result_files
from engine.parent.results import output_file
from engine.parent.results.measurements import FIELDS
from engine.parent.results.model import platform_results
from ipc.errors import BenchError


def build(groups: list[Group], by_platform: list[Group], sources: int) -> dict:
    """The page's data: every group, the platforms merged over everything, and which groups each location holds."""
    locations: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        locations.setdefault(g.location, []).append(i)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "title": "RTC latency report",
        "subtitle": f"{sources} result file(s), {sum(len(g.results) for g in groups)} run(s); generated {now}. "
        "Percentiles come from the runs' HDR histograms added together (3 significant digits).",
        "groups": [report_data.group_data(g) for g in groups],
        "platforms": [
            {"label": g.platform, "percentiles": report_data.percentile_curve(g.histogram("rtt"))} for g in by_platform
        ],
        "locations": [{"name": name, "groups": members} for name, members in locations.items()],
    }


def markdown(groups: list[Group]) -> str:
    head = ["platform", "location", "day", "runs", "pings", "loss", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        pct = [g.percentile_ms("rtt", p) for p in (50.0, 95.0, 99.0, 99.9)]
        cells = [g.platform, g.location, g.day, len(g.results), g.total, f"{g.loss_rate:.2%}"]
        cells += ["n/a" if v is None else f"{v:.3f}" for v in pct]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, files: list[Path]) -> int:
    """Every measured ping of every file, one row each, a file at a time; returns the row count."""
    rows = 0
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["platform", "location_id", "run_id", *FIELDS])
        for file in files:
            for r in platform_results(read_result(file)).values():
                tags = [r.platform, r.metadata.location_id, r.metadata.run_id]
                for row in r.measurements:
                    writer.writerow([*tags, *(row.get(name, "") for name in FIELDS)])
                    rows += 1
    return rows


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here.")
@click.option(
    "--markdown", "md_out", type=click.Path(dir_okay=False, path_type=Path), help="Write a Markdown table here."
)
@click.option(
    "--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), help="Write every measured ping here."
)
def report_cli(paths: tuple[Path, ...], html_out: Path | None, md_out: Path | None, csv_out: Path | None) -> int:
    """Report on result files (or folders of them): runs grouped by platform, location and day."""
    outputs = [p for p in (html_out, md_out, csv_out) if p is not None]
    if not outputs:
        raise BenchError("give at least one of --html, --markdown, --csv")
    for path in outputs:
        try:
            output_file.check(path)
        except OSError as exc:
            raise BenchError(str(exc).replace("--output", "output")) from None
    files = result_files(paths)
    loaded = load_results(files)
    for note in partial_notes(loaded):
        click.echo(f"note: {note}", err=True)
    results = [r for _, r in loaded]
    groups = grouped(results, lambda r: (r.platform, r.metadata.location_id, day_of(r)))
    if html_out:
        by_platform = grouped(results, lambda r: (r.platform,))
        output_file.write(html_out, [report_html.render(build(groups, by_platform, len(files)))])
        click.echo(f"report written to {html_out}")
    if md_out:
        output_file.write(md_out, [markdown(groups)])
        click.echo(f"table written to {md_out}")
    if csv_out:
        count = write_csv(csv_out, files)
        click.echo(f"{count} measurements written to {csv_out}")
    return 0
