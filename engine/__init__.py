"""The measurement core: ``engine.worker`` measures in one process per platform, ``engine.parent`` supervises and analyses."""

from importlib import metadata


def version() -> str:
    """This package's version, for results and the agent's /health."""
    try:
        return metadata.version("rtc-latency-bench")
    except metadata.PackageNotFoundError:
        return "unknown"
