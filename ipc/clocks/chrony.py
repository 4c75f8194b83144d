"""chrony's tracking figures (``chronyc -c tracking``, no privilege): its own bound for the true time,
|system time offset| + root dispersion + root delay / 2."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

#: chronyc answers from its daemon in milliseconds; a silent daemon must not hold a /connect for long.
TIMEOUT_S = 2.0
#: ``chronyc -c tracking`` columns (chrony 4): the ones read here.
_OFFSET, _ROOT_DELAY, _ROOT_DISPERSION, _LEAP = 4, 10, 11, 13
_COLUMNS = 14


def read(address: str | None) -> dict[str, Any]:
    """``Reading`` fields from chronyd at ``HOST:PORT`` (its command port), or the local one."""
    chronyc = shutil.which("chronyc")
    if chronyc is None:
        return {"why": "chronyc is not installed"}
    argv = [chronyc, "-c", "-n"]
    if address:
        host, _, port = address.rpartition(":")
        argv += ["-h", host, "-p", port]
    try:
        proc = subprocess.run([*argv, "tracking"], capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"why": f"chronyc did not answer: {exc}"}
    return parse(proc.stdout) if proc.returncode == 0 else {"why": f"chronyc: {(proc.stderr or proc.stdout).strip()[:120]}"}


def parse(csv_line: str) -> dict[str, Any]:
    fields = csv_line.strip().split(",")
    if len(fields) < _COLUMNS:
        return {"why": f"chronyc tracking printed {csv_line.strip()[:80]!r}"}
    try:
        offset, delay, dispersion = (float(fields[i]) for i in (_OFFSET, _ROOT_DELAY, _ROOT_DISPERSION))
    except ValueError:
        return {"why": f"chronyc tracking printed {csv_line.strip()[:80]!r}"}
    raw = {
        "reference": fields[1],
        "stratum": int(fields[2]) if fields[2].isdigit() else fields[2],
        "system_time_offset_s": offset,
        "root_delay_s": delay,
        "root_dispersion_s": dispersion,
        "leap_status": fields[_LEAP],
    }
    if fields[_LEAP] == "Not synchronised":
        return {"why": "chronyd is not synchronised", "raw": raw}
    return {"bound_ms": (abs(offset) + dispersion + delay / 2) * 1e3, "raw": raw}
