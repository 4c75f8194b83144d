"""Test-only: a Python started with this folder on PYTHONPATH reads a wall clock shifted by
CLOCK_SHIFT_NS nanoseconds (time.time_ns and time.time), as an agent whose clock is off would."""

import os
import time

_shift = int(os.environ.get("CLOCK_SHIFT_NS", "0"))
if _shift:
    _time_ns, _time = time.time_ns, time.time
    time.time_ns = lambda: _time_ns() + _shift
    time.time = lambda: _time() + _shift / 1e9

# With HIDE_BOOT_ID set, this process reports another kernel's boot id: an agent on this host then
# looks like one on another host to the runner (auto cannot choose same-host).
if os.environ.get("HIDE_BOOT_ID"):
    import ipc.clocks.anchors

    ipc.clocks.anchors.boot_id = lambda: "another-host-" + os.environ["HIDE_BOOT_ID"]
