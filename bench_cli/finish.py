"""After a run: show the summary, save the JSON, drain the sink, and pick the exit code.

The order matters: the summary and the file come before the sink is drained,
so a stalled database delays only its own points, and Ctrl-C during the
drain costs nothing measured (the sink spools the rest and the runner exits).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from bench_cli.outputs import OutputPlan
from bench_cli.sink import report_lines
from bench_cli.summary import render, render_comparison
from engine.parent.results import builder as results
from engine.parent.results import output_file
from engine.parent.results.model import MultiResult
from engine.parent.supervision.runner import RunOutcome

EXIT_PLATFORM_FAILED = 1
#: An output could not be written (a full disk, say): everything else was, and one line names the path and errno.
EXIT_UNSAVED = 3


def say(text: str, err: bool = False) -> None:
    """``click.echo`` that survives a closed standard output: the summary is lost, nothing else."""
    try:
        click.echo(text, err=err)
    except BrokenPipeError:
        if err:
            raise
        output_file.drop_stdout()


def finish(outcome: RunOutcome, output: Path | None, outputs: OutputPlan, interrupted: Callable[[], int]) -> int:
    """Everything after the measuring; ``interrupted`` says so and returns the exit code of a stopped run."""
    to_stdout = output is not None and output_file.is_stdout(output)
    # The summary keeps out of the stream's way too.
    to_stdout |= outputs.stream is not None and output_file.is_stdout(outputs.stream)
    if not outputs.quiet:
        for result in outcome.per_platform.values():
            say(render(result), err=to_stdout)
        if isinstance(outcome.output, MultiResult):
            say(render_comparison(outcome.output.comparison), err=to_stdout)
    unsaved = _save(output, outcome, outputs) + _save_hlog(outcome, outputs)
    sink = outcome.drain_sink()
    if sink["enabled"] and output is not None and not unsaved and output_file.is_regular(output):
        unsaved = _save(output, outcome, outputs)  # again, now with the sink's final report
    if not outputs.quiet and not unsaved:
        if output is not None and not output_file.is_stdout(output):
            say(f"results written to {output}", err=to_stdout)
        if outputs.hlog is not None:
            say(f"interval log written to {outputs.hlog}", err=to_stdout)
    for line in [*unsaved, *report_lines(sink)]:
        say(line, err=True)
    stopped = outcome.interrupted or sink.get("interrupted")
    if not stopped:
        for error in outcome.errors:
            say(f"benchmark-runner: error: {error}", err=True)
    if stopped:
        code = interrupted()
    elif unsaved or sink.get("lost"):
        code = EXIT_UNSAVED
    else:
        code = EXIT_PLATFORM_FAILED if outcome.errors else 0
    if sink.get("interrupted"):
        # The client's HTTP thread may sit in a request to the stalled server for its whole timeout,
        # and a normal exit would join it: everything is written and spooled, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _save(output: Path | None, outcome: RunOutcome, outputs: OutputPlan) -> list[str]:
    """Write the JSON; a failure is one line naming the path and the errno, and the run goes on."""
    if output is None:
        return []
    try:
        results.write_json(output, outputs.written(outcome))
    except OSError as exc:
        return [_unsaved("results", output, exc)]
    return []


def _save_hlog(outcome: RunOutcome, outputs: OutputPlan) -> list[str]:
    try:
        outputs.write_hlog(outcome)
    except OSError as exc:
        return [_unsaved("the interval log", outputs.hlog, exc)]
    return []


def _unsaved(what: str, path: Path | None, exc: OSError) -> str:
    return f"benchmark-runner: error: cannot write {what} to {path}: [Errno {exc.errno}] {exc.strerror or exc}"
