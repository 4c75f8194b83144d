"""Ratios, targets, the printed table, the JSON report and the baseline comparison.

Latency is printed in µs with 3 decimals (the stamps are ns: none of their resolution is dropped). A ratio is "measured over
reference", so bigger is worse everywhere; a regression is a ratio that grew
by more than the tolerance over the one in ``perf/baseline.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

REPORT_VERSION = 1
BASELINE_PATH = Path(__file__).with_name("baseline.json")
#: A ratio may grow this much over its baseline before --check calls it a regression.
DEFAULT_TOLERANCE = 0.25

#: ratio name -> (measured row, reference row, field)
RATIOS = {
    "engine_poll_vs_sockperf_p50": ("engine_poll", "sockperf", "p50_us"),
    "engine_poll_vs_sockperf_p99": ("engine_poll", "sockperf", "p99_us"),
    "engine_vs_sockperf_p50": ("engine", "sockperf", "p50_us"),
    "engine_sink_vs_engine_p50": ("engine_sink", "engine", "p50_us"),
    "engine_stream_vs_engine_p50": ("engine_stream", "engine", "p50_us"),
    "engine_vs_sockperf_p99": ("engine", "sockperf", "p99_us"),
    "python_vs_sockperf_p50": ("python", "sockperf", "p50_us"),
    "engine_vs_python_p50": ("engine", "python", "p50_us"),
    "engine_vs_python_p99": ("engine", "python", "p99_us"),
    "engine_vs_irtt_p50": ("engine", "irtt", "p50_us"),
    "engine_vs_irtt_p99": ("engine", "irtt", "p99_us"),
}
#: The udp engine's RTT comes from kernel stamps (t1 TX, t4 RX): it should measure no more than
#: sockperf, whose stamps are user-space, at the median, and stay within 1.2x at p99. Both engine
#: rows carry the targets; like for like is the engine with --busy-poll-us, whose echo does not sleep
#: while a ping is due, as sockperf's client does not (it busy-waits).
TARGETS = {
    "engine_poll_vs_sockperf_p50": 1.0,
    "engine_poll_vs_sockperf_p99": 1.2,
    "engine_sink_vs_engine_p50": 1.05,
    "engine_stream_vs_engine_p50": 1.05,
    "engine_vs_sockperf_p50": 1.0,
    "engine_vs_sockperf_p99": 1.2,
    "engine_vs_irtt_p50": 1.0,
    "engine_vs_irtt_p99": 1.0,
}
#: The engine's send lag p99 against irtt's mean timer error: a Python pacer on one timerfd must wake
#: on time at least as well as irtt's compensated Go timer does on average.
SEND_LAG_VS_IRTT_TIMER = 1.0
#: Ratios --check compares with the baseline, each with the growth it tolerates. p99 ratios on a
#: shared 2-core box are too noisy to gate on; a bare timer's p99 and a cold start vary more than a p50.
CHECKED = {
    "engine_poll_vs_sockperf_p50": DEFAULT_TOLERANCE,
    "engine_vs_sockperf_p50": DEFAULT_TOLERANCE,
    "engine_vs_python_p50": DEFAULT_TOLERANCE,
    "send_lag_p50_vs_timer_1000": 0.5,
    "parent_rss_vs_raw_columns": 0.15,
    "first_pong_webrtc_vs_udp": 0.5,
}
_OPS = {"≤": float.__le__, "≥": float.__ge__, "=": float.__eq__}

_LABELS = {
    "engine_poll_vs_sockperf_p50": "RTT p50 engine+poll (kernel stamps, the echo polling) / sockperf",
    "engine_poll_vs_sockperf_p99": "RTT p99 engine+poll (kernel stamps, the echo polling) / sockperf",
    "engine_vs_sockperf_p50": "RTT p50 engine (kernel stamps) / sockperf",
    "engine_sink_vs_engine_p50": "RTT p50 engine with InfluxDB sink / without",
    "engine_stream_vs_engine_p50": "RTT p50 engine with --stream to a file / without",
    "engine_vs_sockperf_p99": "RTT p99 engine (kernel stamps) / sockperf",
    "python_vs_sockperf_p50": "RTT p50 python / sockperf",
    "engine_vs_python_p50": "RTT p50 engine / python",
    "engine_vs_python_p99": "RTT p99 engine / python",
    "engine_vs_irtt_p50": "RTT p50 engine (kernel stamps) / irtt (client send → receive)",
    "engine_vs_irtt_p99": "RTT p99 engine (kernel stamps) / irtt (client send → receive)",
}


def ratios(med: dict[str, dict[str, float]]) -> dict[str, float]:
    out = {}
    for name, (row, ref, key) in RATIOS.items():
        if row in med and ref in med and med[ref].get(key):
            out[name] = med[row][key] / med[ref][key]
    return out


def row(
    metric: str,
    measured: float | None,
    *,
    reference: float | None = None,
    ratio: float | None = None,
    ratio_name: str | None = None,
    target: float | None = None,
    op: str = "≤",
    target_on: str = "",
    fmt: str = ".3f",
) -> dict[str, Any]:
    """One table line, the shape every benchmark returns. ``target`` applies to ``target_on``
    ("ratio" or "measured"; by default the ratio when there is one); ``ratio_name`` makes the
    ratio one the baseline tracks."""
    target_on = target_on or ("ratio" if ratio is not None else "measured")
    value = ratio if target_on == "ratio" else measured
    result = "info" if target is None or value is None else ("pass" if _OPS[op](float(value), target) else "FAIL")
    return {
        "metric": metric,
        "measured": measured,
        "reference": reference,
        "ratio": ratio,
        "ratio_name": ratio_name,
        "target": target,
        "op": op,
        "target_on": target_on,
        "fmt": fmt,
        "result": result,
    }


def rows(med: dict[str, dict[str, float]], rat: dict[str, float]) -> list[dict[str, Any]]:
    """The engine-overhead lines of the table, also stored in the JSON report."""
    out = []
    for name, value in rat.items():
        measured, reference, key = RATIOS[name]
        out.append(
            row(
                f"{_LABELS[name]} (µs)",
                med[measured][key],
                reference=med[reference][key],
                ratio=value,
                ratio_name=name,
                target=TARGETS.get(name),
            )
        )
    eng = med["engine"]
    for key, label in (("send_lag_p50_us", "p50"), ("send_lag_p99_us", "p99"), ("send_lag_max_us", "max")):
        out.append(row(f"engine send lag {label} (µs)", eng.get(key)))
    net, sock = eng.get("network_p50_us"), med["sockperf"].get("p50_us")
    if net is not None and sock:
        # The engine's RTT still holds the Python echo agent's own time (t3 - t2, from its kernel's
        # receive stamp to its send): minus that, what is left is the two hosts' kernels and the wire.
        out.append(
            row(
                "network RTT p50 engine (RTT - agent t3-t2, kernel stamps) / sockperf RTT (µs)",
                net,
                reference=sock,
                ratio=net / sock,
            )
        )
    if "kernel_stamped" in eng:
        out.append(row("engine rounds with t1 and t4 from the kernel (share)", eng["kernel_stamped"], target=1, op="="))
    for key, label in (("stack_delay_p50_us", "p50"), ("stack_delay_p99_us", "p99")):
        out.append(row(f"engine stack delay {label}: user t4 - kernel t4 (µs)", eng.get(key)))
    out += irtt_rows(eng, med.get("irtt"))
    for name in ("engine", "engine_sink", "engine_stream", "engine_poll", "python", "sockperf"):
        lost = med.get(name, {}).get("lost", med.get(name, {}).get("dropped"))
        if lost is not None:
            out.append(row(f"{name} lost/dropped (count)", lost, target=0, op="=", fmt=".0f"))
    return out


def irtt_rows(eng: dict[str, float], irtt: dict[str, float] | None) -> list[dict[str, Any]]:
    """irtt's timer beside the engine's send lag, and how many of its pings it sent."""
    if not irtt:
        return []
    lag, timer = eng.get("send_lag_p99_us"), irtt.get("timer_error_mean_us")
    out = [
        row(
            "engine send lag p99 / irtt mean timer error (µs)",
            lag,
            reference=timer,
            ratio=lag / timer if lag is not None and timer else None,
            ratio_name="send_lag_p99_vs_irtt_timer_mean",
            target=SEND_LAG_VS_IRTT_TIMER,
        )
    ]
    for key, label in (
        ("timer_error_max_us", "irtt timer error max (µs)"),
        ("send_call_mean_us", "irtt send call mean (µs)"),
        ("irtt_rtt_median_us", "irtt's own RTT median, minus its server's processing (µs)"),
    ):
        out.append(row(label, irtt.get(key)))
    out.append(row("irtt pings sent / asked (share)", irtt.get("sent_share")))
    return out


def table_ratios(table: list[dict[str, Any]]) -> dict[str, float]:
    """The ratios the baseline tracks, from the table's lines."""
    return {r["ratio_name"]: r["ratio"] for r in table if r.get("ratio_name") and r["ratio"] is not None}


def _cell(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def render(table: list[dict[str, Any]]) -> str:
    head = ("metric", "measured", "reference", "ratio", "target", "result")
    lines = [[*head]]
    for r in table:
        fmt = r["fmt"]
        target = (
            "—" if r["target"] is None else f"{r['op']} {r['target']:{'.2f' if r['target_on'] == 'ratio' else fmt}}"
        )
        lines.append(
            [
                r["metric"],
                _cell(r["measured"], fmt),
                _cell(r["reference"], fmt),
                _cell(r["ratio"], ".3f"),
                target,
                r["result"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([_line(lines[0], widths), rule, *(_line(line, widths) for line in lines[1:])])


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def load_baseline(path: Path = BASELINE_PATH) -> dict[str, Any]:
    with open(path) as f:
        baseline = json.load(f)
    if "ratios" not in baseline or "reason" not in baseline:
        raise ValueError(f"{path}: a baseline needs 'ratios' and 'reason'")
    return baseline


def compare(rat: dict[str, float], baseline: dict[str, Any], tolerance: float | None) -> list[dict[str, Any]]:
    """One entry per checked ratio present in both: regression when it grew past baseline × (1 + tolerance).

    ``tolerance`` overrides every ratio's own (the baseline's ``tolerances``, else ``CHECKED``).
    """
    out = []
    for name, default in CHECKED.items():
        base = baseline["ratios"].get(name)
        if base is None or name not in rat:
            continue
        tol = tolerance if tolerance is not None else baseline.get("tolerances", {}).get(name, default)
        limit = base * (1 + tol)
        out.append(
            {
                "ratio": name,
                "baseline": base,
                "measured": rat[name],
                "tolerance": tol,
                "limit": limit,
                "change": rat[name] / base - 1,
                "regression": rat[name] > limit,
            }
        )
    return out


def comparable(settings: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """Settings that differ from the baseline's and make the ratios less comparable."""
    keys = ("mode", "mps", "duration_s", "rounds", "placement")
    return [
        f"{k} is {settings.get(k)!r} here but {base.get(k)!r} in the baseline"
        for k in keys
        if k in base and settings.get(k) != base.get(k)
    ]


def render_check(entries: list[dict[str, Any]], path: Path) -> str:
    lines = [f"baseline {path}:"]
    for e in entries:
        verdict = "REGRESSION" if e["regression"] else "ok"
        lines.append(
            f"  {e['ratio']:<28} baseline {e['baseline']:.3f}  measured {e['measured']:.3f}  limit {e['limit']:.3f} (+{e['tolerance']:.0%})  ({e['change']:+.1%})  {verdict}"
        )
    if not entries:
        lines.append("  no ratio in common with the baseline")
    return "\n".join(lines)


def baseline_from(report: dict[str, Any], reason: str, tolerance: float | None) -> dict[str, Any]:
    return {
        "reason": reason,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tolerances": {name: tolerance if tolerance is not None else tol for name, tol in CHECKED.items()},
        "ratios": {k: round(v, 4) for k, v in report["ratios"].items()},
        "medians_us": {
            row: {k: round(v, 3) for k, v in vals.items() if k.endswith("_us")}
            for row, vals in report["medians"].items()
        },
        "sections": report["sections"],
        "settings": report["settings"],
        "host": report["host"],
    }


def write_json(path: Path, obj: Any) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
