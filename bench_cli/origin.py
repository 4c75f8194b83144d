"""Where a bad setting came from: a flag, or the environment variable (or .env line) behind it.

A user who typed nothing wrong on the command line should be told which
variable to fix, not a flag they never used.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import click
from click.core import ParameterSource

from ipc.errors import BenchError


def _on_command_line(param: click.Parameter, args: list[str]) -> bool:
    return any(arg == opt or arg.startswith(f"{opt}=") for arg in args for opt in param.opts)


def bad_parameter(exc: click.BadParameter, args: list[str]) -> str:
    """click's refusal of a value as one line naming where it came from: the flag, or the environment variable.

    Checked against the arguments: click has not recorded the value's source yet when it refuses it
    (and with ``show_envvar`` its own message names the variable even for a typed flag).
    """
    param = exc.param
    if param is None:
        return exc.format_message()
    if param.envvar and not _on_command_line(param, args):
        return f"invalid value in environment variable {param.envvar} (or .env; it sets {param.opts[0]}): {exc.message}"
    return f"invalid value for {param.opts[0]}: {exc.message}"


@contextlib.contextmanager
def naming_environment(ctx: click.Context) -> Iterator[None]:
    """Rewrite a ``BenchError`` about a flag whose value came from the environment to name the variable."""
    try:
        yield
    except BenchError as exc:
        message = str(exc)
        for param in ctx.command.params:
            if param.envvar and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
                flag = param.opts[0]
                message = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", f"{param.envvar} (sets {flag})", message)
        raise BenchError(message) from None
