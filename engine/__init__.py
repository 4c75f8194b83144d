"""The measurement core: ``engine.worker`` measures in one process per platform, ``engine.parent`` supervises and analyses."""

import functools
from importlib import metadata


@functools.cache
def version() -> str:
    """This package's version, for results and the agent's /health (read once: it scans the installed packages)."""
    try:
        return metadata.version("rtc-latency-bench")
    except metadata.PackageNotFoundError:
        return "unknown"
