"""``uv run python -m perf``: engine overhead against sockperf and irtt on loopback, then the other benchmarks.

    uv run python -m perf                  full run: 3 rounds x 5 s per row, then every section (~3 min)
    uv run python -m perf --quick          smoke run for CI: 1 round x 1 s per row, small sections (~30 s)
    uv run python -m perf --skip memory    leave a section out (repeatable)
    uv run python -m perf --check          also compare ratios with perf/baseline.json
    uv run python -m perf --json out.json  write the report
    uv run python -m perf --save-baseline "why"   write perf/baseline.json from this run

Exit codes: 0 targets met (``--quick``: it ran and produced numbers; targets
and baseline are shown, not enforced); 1 a target missed, or with ``--check``
a ratio regressed past the tolerance; 2 nothing could be measured (sockperf
missing, a server failed to start, no replies).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ipc.errors import BenchError
from perf import PerfError, report
from perf.suite import ROWS, SECTIONS, SuiteSettings, run_suite

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m perf", description="Engine overhead vs sockperf, UDP on 127.0.0.1.")
    p.add_argument(
        "--quick", action="store_true", help="seconds-long smoke run (CI): 1 round of 1 s per row; targets not enforced"
    )
    p.add_argument("--rounds", type=int, help="alternating rounds (default 3; --quick 1)")
    p.add_argument("--duration", type=int, help="seconds per row and round (default 5; --quick 1)")
    p.add_argument("--rate", type=int, default=1000, help="pings per second (default 1000, i.e. cooldown 1 ms)")
    p.add_argument("--no-python", action="store_true", help="skip the plain-Python ping-pong row")
    p.add_argument(
        "--rows",
        type=lambda text: tuple(text.split(",")),
        default=ROWS,
        metavar="ROW,ROW",
        help=f"rows each round runs (default all: {','.join(ROWS)}); sockperf and engine always run; irtt runs when listed",
    )
    p.add_argument(
        "--skip", action="append", default=[], choices=list(SECTIONS), help="leave this section out (repeatable)"
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="let the scheduler place processes (default: clients on one CPU, echoes on another)",
    )
    p.add_argument("--sockperf", metavar="PATH", help="sockperf executable (default: from PATH)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    p.add_argument("--check", action="store_true", help="compare ratios with the baseline; exit 1 on regression")
    p.add_argument(
        "--baseline", type=Path, default=report.BASELINE_PATH, help="baseline file (default perf/baseline.json)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        help="allowed growth of every checked ratio over its baseline, e.g. 0.25 (default: each ratio's own, from the baseline, else perf/report.py CHECKED)",
    )
    p.add_argument("--save-baseline", metavar="REASON", help="write --baseline from this run, with REASON")
    return p


def say(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (
        args.rate <= 0
        or (args.rounds is not None and args.rounds < 1)
        or (args.duration is not None and args.duration < 1)
    ):
        print("perf: --rate, --rounds and --duration must be positive", file=sys.stderr)
        return EXIT_ERROR
    if unknown := set(args.rows) - set(ROWS):
        print(f"perf: --rows: no row {', '.join(sorted(unknown))} (rows: {', '.join(ROWS)})", file=sys.stderr)
        return EXIT_ERROR
    cfg = SuiteSettings(
        mode="quick" if args.quick else "full",
        rounds=args.rounds or (1 if args.quick else 3),
        duration_s=args.duration or (1 if args.quick else 5),
        mps=args.rate,
        warmup=100 if args.quick else 200,
        python_row=not args.no_python,
        rows=tuple(dict.fromkeys(("sockperf", "engine", *args.rows))),
        sockperf_exe=args.sockperf,
        pin=not args.no_pin,
        sections=tuple(name for name in SECTIONS if name not in args.skip),
        schedule_s=0.5 if args.quick else 5.0,
        samples=200_000 if args.quick else 1_000_000,
        memory_pings=2_000 if args.quick else 20_000,
    )
    try:
        measured = run_suite(cfg, say)
    except (PerfError, BenchError, OSError) as exc:
        print(f"perf: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("perf: interrupted", file=sys.stderr)
        return 130

    table = report.rows(measured["medians"], report.ratios(measured["medians"]))
    for name, data in measured["sections"].items():
        table += SECTIONS[name][1](data)
    rat = report.table_ratios(table)
    out = {
        "version": report.REPORT_VERSION,
        "suite": "engine",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **measured,
        "ratios": rat,
        "table": table,
    }
    placed = measured["settings"]["placement"]
    where = (
        f"clients CPU {placed['client_cpus']}, echoes CPU {placed['echo_cpus']}"
        if isinstance(placed, dict)
        else "unpinned"
    )
    print(
        f"engine overhead, UDP on 127.0.0.1, {cfg.mps} msg/s, {measured['settings']['message_bytes']}-byte pings, {where}, "
        f"median of {cfg.rounds} round(s) x {cfg.duration_s} s; RTT in µs (sockperf --full-rtt); "
        f"sections: {', '.join(cfg.sections) or 'none'}"
    )
    print(report.render(table))

    missed = [r["metric"] for r in table if r["result"] == "FAIL"]
    regressions: list[str] = []
    if args.check:
        try:
            baseline = report.load_baseline(args.baseline)
        except (OSError, ValueError) as exc:
            print(f"perf: error: cannot read baseline: {exc}", file=sys.stderr)
            return EXIT_ERROR
        entries = report.compare(rat, baseline, args.tolerance)
        out["check"] = {
            "baseline": str(args.baseline),
            "baseline_reason": baseline["reason"],
            "tolerance_override": args.tolerance,
            "entries": entries,
        }
        print(report.render_check(entries, args.baseline))
        for note in report.comparable(measured["settings"], baseline.get("settings", {})):
            print(f"  note: {note}")
        regressions = [e["ratio"] for e in entries if e["regression"]]

    failed = bool(missed or regressions)
    enforced = not args.quick
    out["verdict"] = {"missed_targets": missed, "regressions": regressions, "enforced": enforced, "passed": not failed}
    if args.json:
        report.write_json(args.json, out)
        print(f"report written to {args.json}")
    if args.save_baseline:
        report.write_json(args.baseline, report.baseline_from(out, args.save_baseline, args.tolerance))
        print(f"baseline written to {args.baseline}")
    if failed:
        what = "; ".join([*(f"missed target: {m}" for m in missed), *(f"regression: {r}" for r in regressions)])
        print(f"perf: {what}{' (quick run: not enforced)' if not enforced else ''}", file=sys.stderr)
    return EXIT_FAIL if failed and enforced else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
