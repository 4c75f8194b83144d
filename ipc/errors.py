"""Errors the user can act on; the CLI prints their message on one line and exits 2."""


class BenchError(Exception):
    """Bad input or an unusable agent: nothing was measured."""
