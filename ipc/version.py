"""This package's version, for results, hlog headers and the agent's /health."""

import functools
from importlib import metadata


@functools.cache
def version() -> str:
    """Read once: it scans the installed packages."""
    try:
        return metadata.version("rtc-latency-bench")
    except metadata.PackageNotFoundError:
        return "unknown"
